import { randomUUID } from "node:crypto";
import type { Db, Document } from "mongodb";
import { progress } from "./measure.ts";
import { activityKey, activityKeys } from "../lib/activity-buckets.ts";
import { searchKeys } from "../lib/search-keys.ts";

// An inbox at real size for one merchant and one X account, written with the driver in large
// batches (not through the services: seeding is not what is measured): `contacts` contacts, each
// with one conversation of `perContact` messages alternating customer and reply, the counters on
// contacts and conversations equal to what is stored (the shape the inbox's writer keeps). The
// first contacts have X ids `firstXId`, `firstXId + 1`, …, so a scenario can have them write again.

const BATCH = 5_000;
const DAY = 86_400_000;
const LAST = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"];
const MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Hữu", "Thanh"];
const FIRST = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Lan", "Long", "Mai", "Nam", "Phương", "Quân", "Tâm", "Trang", "Vy"];
const TAGS = ["customer", "new", "loyal", "promo", "inactive", "wholesale", "hcm", "hn"];

export interface SeededInbox {
	contacts: number;
	conversations: number;
	messages: number;
	seconds: number;
	/** Ids of a few seeded conversations, for detail reads. */
	sampleConversations: string[];
}

function rng(seed: number) {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 2 ** 32;
	};
}

export async function seedInbox(
	db: Db,
	opts: { merchantId: string; accountId: string; contacts: number; perContact: number; firstXId: number; label: string }
): Promise<SeededInbox> {
	const { merchantId, accountId, perContact } = opts;
	const rand = rng(42);
	const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
	const now = Date.now();
	const started = performance.now();
	const buffers: Record<string, Document[]> = { contacts: [], conversations: [], messages: [] };
	let messages = 0;
	const sampleConversations: string[] = [];
	// The days with activity, marked as the services mark them (models/activity-day.model.ts).
	const days = new Map<string, { _id: string; merchantId: string; year: string; day: string }>();
	const flush = async (force = false) => {
		for (const [name, docs] of Object.entries(buffers)) {
			if (docs.length && (force || docs.length >= BATCH)) {
				await db.collection(name).insertMany(docs, { ordered: false });
				buffers[name] = [];
			}
		}
	};
	for (let c = 0; c < opts.contacts; c++) {
		const contactId = randomUUID();
		const conversationId = randomUUID();
		const xId = String(opts.firstXId + c);
		const first = new Date(now - 90 * DAY + Math.floor(rand() * 60 * DAY));
		let at = first.getTime();
		let lastInbound = first;
		let replies = 0;
		let responseSeconds = 0;
		let firstResponseAt: Date | null = null;
		for (let i = 0; i < perContact; i++) {
			const inbound = i % 2 === 0;
			const seconds = inbound ? null : 30 + Math.floor(rand() * 1800);
			at += inbound ? Math.floor(rand() * 6 * 3_600_000) : seconds! * 1000;
			const sentAt = new Date(at);
			if (inbound) lastInbound = sentAt;
			else {
				replies++;
				responseSeconds += seconds!;
				firstResponseAt ??= sentAt;
			}
			buffers.messages.push({
				_id: randomUUID(),
				merchantId,
				accountId,
				conversationId,
				contactId,
				direction: inbound ? "inbound" : "outbound",
				type: "text",
				content: inbound ? `Shop ơi còn hàng mẫu ${i} không?` : "Dạ còn ạ, anh/chị cần size nào?",
				attachments: [],
				isFromBot: false,
				twitterMessageId: `seed-${opts.label}-${c}-${i}`,
				status: inbound ? "received" : "sent",
				origin: inbound ? null : "agent",
				sentAt,
				responseSeconds: seconds,
				createdContact: i === 0,
				createdConversation: i === 0,
				createdAt: sentAt,
				updatedAt: sentAt,
			});
		}
		messages += perContact;
		const inbound = Math.ceil(perContact / 2);
		const last = new Date(at);
		const tags = new Set<string>();
		if (rand() < 0.1) tags.add("vip");
		for (let t = Math.floor(rand() * 3); t > 0; t--) tags.add(pick(TAGS));
		const username = `khach_${c.toString(36)}`;
		const displayName = `${pick(LAST)} ${pick(MIDDLE)} ${pick(FIRST)}`;
		buffers.contacts.push({
			_id: contactId,
			merchantId,
			accountId,
			twitterUserId: xId,
			username,
			usernameLower: username,
			displayName,
			searchKeys: searchKeys(username, displayName),
			profileImageUrl: null,
			tags: [...tags],
			attributes: { purchaseCount: Math.floor(rand() * 12) },
			source: "inbound_message",
			conversationCount: 1,
			messagesReceived: inbound,
			messagesSent: perContact - inbound,
			firstInteractionAt: first,
			lastInteractionAt: last,
			activityAt: last,
			activityKeys: activityKeys(last),
			lastInboundAt: lastInbound,
			optedOut: false,
			optedOutAt: null,
			optedIn: false,
			responseTimeTotalSeconds: responseSeconds,
			responseCount: replies,
			createdAt: first,
			updatedAt: last,
		});
		buffers.conversations.push({
			_id: conversationId,
			merchantId,
			accountId,
			contactId,
			status: "open",
			channel: "direct_message",
			openKey: `open:${contactId}`,
			assignedToUserId: null,
			messageCount: perContact,
			startedAt: first,
			lastMessageAt: last,
			activityAt: last,
			activityKeys: activityKeys(last),
			lastInboundAt: lastInbound,
			awaitingReplySince: perContact % 2 === 1 ? lastInbound : null,
			firstResponseAt,
			closedAt: null,
			closeReason: null,
			needsHuman: false,
			escalatedAt: null,
			createdAt: first,
			updatedAt: last,
		});
		const day = activityKey("d", last);
		days.set(day, { _id: `${merchantId}|${day}`, merchantId, year: activityKey("y", last), day });
		if (sampleConversations.length < 20 && c % Math.max(1, Math.floor(opts.contacts / 20)) === 0) sampleConversations.push(conversationId);
		await flush();
		if (buffers.messages.length === 0 && messages % 50_000 < perContact) progress(`${opts.label}: seeded ${messages} messages`);
	}
	await flush(true);
	for (const name of ["contact_activity_days", "conversation_activity_days"])
		await db.collection(name).insertMany([...days.values()] as never[]);
	const seconds = Math.round(performance.now() - started) / 1000;
	return { contacts: opts.contacts, conversations: opts.contacts, messages, seconds, sampleConversations };
}
