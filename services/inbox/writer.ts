import type { ServiceBroker } from "moleculer";
import { ConversationModel, conversationActivityFields, type Conversation } from "../../models/conversation.model.ts";
import { ConversationActivityDayModel } from "../../models/conversation-activity-day.model.ts";
import { markActivityDays } from "../../lib/activity-days.ts";
import { MessageModel, type Message } from "../../models/message.model.ts";
import { findIn, updateEach } from "../../lib/lookups.ts";
import { bulkWriteInChunks } from "../../lib/bulk-updates.ts";
import type { InboxActivity } from "../../models/inbox-activity.model.ts";
import { duplicateIdsOf, uuidFromName } from "../../lib/ids.ts";
import { isOptOutMessage } from "../contacts/opt-out.ts";
import type { ConversationActionData, DmActivity, ReadActivity, SentActivityData } from "./activity.ts";
import { isConversationAction } from "./conversation-actions.ts";
import { ContactTally, ConversationState } from "./tally.ts";
import { callFor } from "../../lib/calls.ts";
import { canStillBeEcho, queueTimeOf, takeCountedEchoes } from "./echoes.ts";
import { Tenure } from "./tenure.ts";

// The one writer of an account's conversations: applies a batch of queued activity (DMs and read
// receipts from X, our own sends) in order, with a bounded number of database commands whatever
// the batch's size or the history behind it: one read each for the contacts and conversations it
// needs, one insert of the new ones, one write per touched conversation and contact (a single bulk
// command each). Counters move by increments computed here; no other writer touches them (the
// lease), so they stay exact on FerretDB, whose single-document updates are not atomic.
//
// Which DMs were stored before (X or the sweeper handing an event over again, a batch that died
// half-way) is decided by the messages' unique ids, not by reading them first: the first attempt
// assumes every DM is new and inserts; only when that insert finds some stored already is the
// batch applied again, reading them (`ReadStoredFirst`). See docs/ingest.md.

type Row = Pick<InboxActivity, "_id" | "kind" | "at" | "merchantId" | "accountId"> & { data: unknown; receivedAt?: Date | null };

interface NewMessage {
	doc: Record<string, unknown>;
	event: { name: "message.received" | "message.sent"; payload: Record<string, unknown> };
	createdContact: boolean;
	createdConversation: boolean;
}

const messageIdOf = (accountId: string, eventId: string) => uuidFromName(`x-dm:${accountId}:${eventId}`);

/** What the writer needs of the broker: calls to the contacts service and events. */
export type Caller = Pick<ServiceBroker, "call" | "emit">;

type InboundContacts = Record<string, { contactId: string; created: boolean }>;

/** What a first attempt did that its second must not do again, or must know of. */
interface Carried {
	/** Messages the first attempt inserted: stored now, but this batch's to count. */
	inserted: Set<string>;
	/** The contacts service's answer (its `created` flags are not given twice). */
	contacts: InboundContacts;
	/** Conversations the first attempt opened (their `conversation.created` is still to come). */
	openedConversations: Set<string>;
	/** Echoes the first attempt took (deleted: they cannot be found again). */
	countedEchoes: Set<string | null | undefined>;
}

/**
 * The first attempt found messages of the batch stored before (or the batch in phases, where a
 * later phase's insert would come after an earlier phase's figures are written): apply it again,
 * reading the batch's messages first. Thrown before any figure was written.
 */
class ReadStoredFirst extends Error {
	readonly carried: Carried;
	constructor(carried: Carried) {
		super("some of the batch's messages were stored before");
		this.carried = carried;
	}
}

/**
 * Applies the rows. `stillHeld` throws once the account's lease ran out: it is checked before
 * each write, so a batch that overran its lease stops instead of writing beside the next holder
 * (what it stored so far is found stored by the next attempt: announced again, not counted twice).
 */
export async function applyActivity(
	ctx: Caller,
	accountId: string,
	merchantId: string,
	rows: Row[],
	stillHeld: () => void = () => {},
	tenure: Tenure = new Tenure()
): Promise<{ stored: number; read: number; sent: number; actions: Record<string, boolean> }> {
	try {
		return await applyRows(ctx, accountId, merchantId, rows, stillHeld, tenure, null);
	} catch (err) {
		if (!(err instanceof ReadStoredFirst)) throw err;
		return applyRows(ctx, accountId, merchantId, rows, stillHeld, tenure, err.carried);
	}
}

/** One attempt: `carried` is null for the first (no read of the messages), the first's work for the second. */
async function applyRows(
	ctx: Caller,
	accountId: string,
	merchantId: string,
	rows: Row[],
	stillHeld: () => void,
	tenure: Tenure,
	carried: Carried | null
): Promise<{ stored: number; read: number; sent: number; actions: Record<string, boolean> }> {
	const dms = rows.filter(r => r.kind === "dm").map(r => ({ row: r, dm: r.data as DmActivity }));
	const reads = rows.filter(r => r.kind === "read").map(r => r.data as ReadActivity);
	const sent = rows.filter(r => r.kind === "sent").map(r => ({ row: r, s: r.data as SentActivityData }));
	const actions = rows.filter(r => isConversationAction(r.kind)).map(r => ({ row: r, a: r.data as ConversationActionData }));

	// 1. Which DMs are new: not stored yet, not the echo of one of our own sends.
	const echoIds = dms.filter(d => d.dm.outbound).map(d => d.dm.eventId);
	const ours = echoIds.length
		? new Set(
				(await findIn<Message>(MessageModel, { accountId }, "twitterMessageId", echoIds, { twitterMessageId: 1 }))
					.filter(m => m._id !== messageIdOf(accountId, m.twitterMessageId!))
					.map(m => m.twitterMessageId)
			)
		: new Set<string | null | undefined>();
	const fresh = dms.filter(d => !ours.has(d.dm.eventId));
	// The first attempt reads none: its insert tells. The second reads them, one query per key.
	const inserted = carried?.inserted ?? new Set<string>();
	const ids = carried ? fresh.map(d => messageIdOf(accountId, d.dm.eventId)) : [];
	const storedBefore = new Set(
		(await findIn<Message>(MessageModel, {}, "_id", ids, { _id: 1 })).map(m => m._id as string).filter(id => !inserted.has(id))
	);
	// Stored by an earlier application: not stored or counted again, announced again (the batch that
	// stored them may have died before its events went out; their handlers are idempotent).
	const again = [...storedBefore];
	const toStore = fresh.filter(d => !storedBefore.has(messageIdOf(accountId, d.dm.eventId)));
	// X's echo of one of our sends stored (and counted) before the send recorded its outcome: the
	// echo goes, and the send is not counted again. One read of the account's few candidates
	// (services/inbox/echoes.ts), also when X-app messages are stored (old candidates expire).
	const sentTwitterIds = new Set(sent.map(({ s }) => s.twitterMessageId).filter((id): id is string => Boolean(id)));
	const queueTime = queueTimeOf(rows);
	const countedEchoes: Set<string | null | undefined> =
		carried?.countedEchoes ??
		(sentTwitterIds.size || toStore.some(d => d.dm.outbound) ? await takeCountedEchoes(accountId, sentTwitterIds, queueTime) : new Set());

	// 2. The contacts (asked of their owner).
	const people = new Map<string, { twitterUserId: string; profile: DmActivity["profile"]; at: string }>();
	for (const { dm } of toStore)
		if (!people.has(dm.customerId) || dm.profile)
			people.set(dm.customerId, { twitterUserId: dm.customerId, profile: dm.profile, at: dm.createdAt });
	const contacts: InboundContacts = carried?.contacts ?? (await contactsOf(ctx, merchantId, accountId, [...people.values()], tenure));
	const contactOf = (dm: DmActivity) => contacts[dm.customerId].contactId;

	// 3. Phases: a customer's message after an agent closed their conversation goes to a new one,
	// which can be opened only once the close is written (the open claim is a unique key). So the
	// batch is applied in phases cut before such a message: usually one.
	const phases = await phasesOf(rows, new Map(toStore.map(d => [d.row._id, contactOf(d.dm)])), actions);
	const openedConversations = new Set(carried?.openedConversations);
	const carry = (): Carried => ({ inserted: new Set(), contacts, openedConversations, countedEchoes });
	// A later phase's insert comes after an earlier phase's figures: too late to find replays by it.
	if (!carried && phases.length > 1 && toStore.length) throw new ReadStoredFirst(carry());

	const contactTallies = new Map<string, ContactTally>();
	const contactTally = (id: string) => {
		if (!contactTallies.has(id)) contactTallies.set(id, new ContactTally(id));
		return contactTallies.get(id)!;
	};
	const created = new Set<string>();
	const news: NewMessage[] = [];
	const results: Record<string, boolean> = {};
	const timed: { messageId: string; conversationId: string; contactId: string; seconds: number }[] = [];
	for (const phase of phases) {
		const inPhase = new Set(phase.map(r => r._id));
		const phaseDms = toStore.filter(d => inPhase.has(d.row._id));
		const phaseSent = sent.filter(({ row }) => inPhase.has(row._id));
		const phaseActions = actions.filter(({ row }) => inPhase.has(row._id));
		const conversations = await loadConversations(merchantId, accountId, {
			open: [...new Set(phaseDms.map(d => contactOf(d.dm)))],
			byId: [...new Set([...phaseSent.map(({ s }) => s.conversationId), ...phaseActions.map(({ a }) => a.conversationId)])],
			firstAt: new Map(phaseDms.map(d => [contactOf(d.dm), new Date(d.dm.createdAt)])),
			openedBefore: openedConversations,
			tenure,
		});
		for (const { conversation, created } of conversations.open.values()) if (created) openedConversations.add(conversation._id);

		// Counters and actions, in order, in memory.
		const touched = new Map<string, ConversationState>();
		const convState = (c: Conversation) => {
			if (!touched.has(c._id)) touched.set(c._id, new ConversationState(c));
			return touched.get(c._id)!;
		};
		const phaseNews: NewMessage[] = [];
		const replySeconds: { messageId: string; conversationId: string; contactId: string; seconds: number }[] = [];
		const events: [string, Record<string, unknown>][] = [];

		// Applied in the queue's order (arrival): a reply sent before the customer's next message
		// answers the one before it. Messages are shown by their own time (sentAt) whatever the order.
		const steps = new Map<string, () => void>();
		phaseDms.forEach(({ row, dm }) =>
			steps.set(row._id, () => {
				const { contactId, created: createdContact } = contacts[dm.customerId];
				const { conversation, created: createdConversation } = conversations.open.get(contactId)!;
				const state = convState(conversation);
				const at = new Date(dm.createdAt);
				// A DM the account wrote in X's own app is a person answering.
				const seconds = state.add(dm.outbound ? "reply" : "inbound", at, dm.outbound);
				contactTally(contactId).add(dm.outbound ? "outbound" : "inbound", at, state.firstMessage, seconds);
				const messageId = messageIdOf(accountId, dm.eventId);
				const firstOfContact = createdContact && !created.has(`contact:${contactId}`);
				const firstOfConversation = createdConversation && !created.has(`conversation:${conversation._id}`);
				created.add(`contact:${contactId}`).add(`conversation:${conversation._id}`);
				phaseNews.push({
					createdContact: firstOfContact,
					createdConversation: firstOfConversation,
					doc: {
						_id: messageId,
						merchantId,
						accountId,
						conversationId: conversation._id,
						contactId,
						direction: dm.outbound ? "outbound" : "inbound",
						type: dm.mediaUrl ? "image" : "text",
						content: dm.text,
						attachments: dm.mediaUrl ? [{ type: "image", url: dm.mediaUrl }] : [],
						twitterMessageId: dm.eventId,
						status: dm.outbound ? "sent" : "received",
						origin: dm.outbound ? "x_app" : null,
						sentAt: at,
						responseSeconds: seconds,
						createdContact: firstOfContact,
						createdConversation: firstOfConversation,
						// possibly X's echo of one of our sends, whose row is still to come (services/inbox/echoes.ts)
						...(dm.outbound && canStillBeEcho(at, queueTime) ? { echoCandidateOf: accountId } : {}),
					},
					event: {
						name: dm.outbound ? "message.sent" : "message.received",
						payload: { merchantId, accountId, contactId, conversationId: conversation._id, messageId, content: dm.text, at },
					},
				});
			})
		);
		phaseSent
			.filter(({ s }) => !countedEchoes.has(s.twitterMessageId))
			.forEach(({ row, s }) =>
				steps.set(row._id, () => {
					const conversation = conversations.byId.get(s.conversationId);
					if (!conversation) return; // erased meanwhile
					const state = convState(conversation);
					const at = new Date(s.sentAt);
					const answers = s.kind === "agent" || s.kind === "bot";
					const seconds = state.add(answers ? "reply" : "broadcast", at, s.kind === "agent");
					contactTally(s.contactId).add("outbound", at, state.firstMessage, seconds);
					if (seconds !== null)
						replySeconds.push({ messageId: s.messageId, conversationId: s.conversationId, contactId: s.contactId, seconds });
				})
			);
		phaseActions.forEach(({ row, a }) =>
			steps.set(row._id, () => {
				const conversation = conversations.byId.get(a.conversationId);
				results[row._id] = false;
				if (!conversation || conversation.merchantId !== merchantId) return; // erased meanwhile
				const event = applyAction(convState(conversation), conversation, row, a);
				if (!event) return;
				results[row._id] = true;
				events.push(event);
			})
		);
		for (const row of phase) steps.get(row._id)?.();

		// Writes: new messages, then the counters they move (and the actions), then the actions' events.
		stillHeld();
		if (phaseNews.length) await storeMessages(phaseNews, inserted, carried ? null : carry);
		if (replySeconds.length) {
			await bulkWriteInChunks(
				MessageModel,
				replySeconds.map(r => ({ updateOne: { filter: { _id: r.messageId }, update: { $set: { responseSeconds: r.seconds } } } }))
			);
		}
		stillHeld();
		const convOps = [...touched.values()].map(s => s.update()).filter(u => u !== null);
		// The days the conversations move to are marked first: a list finds them there (lib/activity-buckets.ts).
		if (convOps.length)
			await markActivityDays(
				ConversationActivityDayModel,
				merchantId,
				convOps.map(u => (u.update.$set as { activityAt?: Date }).activityAt)
			);
		if (convOps.length)
			await bulkWriteInChunks(
				ConversationModel,
				convOps.map(u => ({ updateOne: { filter: { _id: u.id }, update: u.update } }))
			);
		for (const u of convOps) tenure.written(u.id, u.update.$set);
		for (const [name, payload] of events) ctx.emit(name, payload);
		news.push(...phaseNews);
		timed.push(...replySeconds);
	}

	// 4. The contacts' figures, then the messages' events, then settled.
	const contactOps = [...contactTallies.values()].map(t => t.toUpdate()).filter(u => u !== null);
	if (contactOps.length) await callFor(ctx, merchantId, "contacts.recordActivity", { updates: contactOps });

	// "STOP", "hủy"…: the customer opts out of automated messages (idempotent).
	for (const n of news) {
		if (n.doc.direction === "inbound" && isOptOutMessage(String(n.doc.content))) {
			await callFor(ctx, merchantId, "contacts.optOut", { id: String(n.doc.contactId) });
		}
	}
	// A send was announced (message.sent) when X accepted it, before this writer timed it: say
	// that its response time (and the conversation's first response) are now in place.
	for (const r of timed) {
		ctx.emit("message.responseTimed", {
			merchantId,
			accountId,
			conversationId: r.conversationId,
			contactId: r.contactId,
			messageId: r.messageId,
			responseSeconds: r.seconds,
		});
	}
	stillHeld();
	await announce(ctx, news, again);
	const read = await applyReads(ctx, accountId, merchantId, reads);
	return { stored: news.length, read, sent: sent.length, actions: results };
}

type Person = { twitterUserId: string; profile: DmActivity["profile"]; at: string };

/**
 * The batch's customers' contacts: those this tenure knows, with the profile it last gave, without
 * asking; the others asked of the contacts service (their owner), which finds, creates or updates them.
 */
async function contactsOf(ctx: Caller, merchantId: string, accountId: string, people: Person[], tenure: Tenure): Promise<InboundContacts> {
	const out: InboundContacts = {};
	const ask: Person[] = [];
	for (const p of people) {
		const contactId = tenure.contactOf(p.twitterUserId, p.profile);
		if (contactId) out[p.twitterUserId] = { contactId, created: false };
		else ask.push(p);
	}
	if (!ask.length) return out;
	const answer = await callFor(ctx, merchantId, "contacts.ensureFromInbound", { accountId, people: ask });
	for (const p of ask) {
		const a = answer[p.twitterUserId];
		out[p.twitterUserId] = a;
		if (a) tenure.rememberContact(p.twitterUserId, a.contactId, p.profile);
	}
	return out;
}

/**
 * Inserts the new messages. A first attempt (`carry` given) that finds some stored before throws
 * `ReadStoredFirst` with what it inserted; the second writes again over what the first inserted
 * (its figures may differ now that the replays are left out) and inserts the rest.
 */
async function storeMessages(news: NewMessage[], inserted: Set<string>, carry: (() => Carried) | null): Promise<void> {
	const docs = news.map(n => n.doc);
	const rewrite = docs.filter(d => inserted.has(d._id as string));
	const insert = docs.filter(d => !inserted.has(d._id as string));
	if (rewrite.length)
		await bulkWriteInChunks(
			MessageModel,
			rewrite.map(d => ({ replaceOne: { filter: { _id: d._id }, replacement: d } }))
		);
	if (!insert.length) return;
	await MessageModel.insertMany(insert, { ordered: false }).catch(err => {
		const duplicates = duplicateIdsOf(err, insert);
		if (!duplicates) throw err;
		if (!carry) throw new Error(`messages stored meanwhile by another writer: ${[...duplicates].join(", ")}`);
		const carried = carry();
		for (const d of insert) if (!duplicates.has(d._id)) carried.inserted.add(d._id as string);
		throw new ReadStoredFirst(carried);
	});
}

/**
 * The batch in phases: a new phase starts at a customer's message that follows, in the batch, an
 * agent's close of one of that customer's conversations (it must go to a new conversation, opened
 * once the close is written). One phase when the batch has no such message.
 */
async function phasesOf(
	rows: Row[],
	contactOfDm: Map<string, string>,
	actions: { row: Row; a: ConversationActionData }[]
): Promise<Row[][]> {
	const closes = actions.filter(({ row }) => row.kind === "close").map(({ a }) => a.conversationId);
	if (!closes.length) return [rows];
	const contactOfClosed = new Map(
		(await findIn<Conversation>(ConversationModel, {}, "_id", closes, { contactId: 1 })).map(c => [c._id, c.contactId])
	);
	const phases: Row[][] = [[]];
	let closed = new Set<string>();
	for (const row of rows) {
		const contactId = contactOfDm.get(row._id);
		if (contactId && closed.has(contactId)) {
			phases.push([]);
			closed = new Set();
		}
		phases[phases.length - 1].push(row);
		if (row.kind === "close") {
			const closedContact = contactOfClosed.get((row.data as ConversationActionData).conversationId);
			if (closedContact) closed.add(closedContact);
		}
	}
	return phases;
}

/** An agent's or the bot's action on the conversation's state; its event when it changed something. */
function applyAction(
	state: ConversationState,
	c: Conversation,
	row: Row,
	a: ConversationActionData
): [string, Record<string, unknown>] | null {
	const at = new Date(row.at);
	if (row.kind === "close" && state.close(at, a.reason ?? null))
		return [
			"conversation.closed",
			{
				merchantId: c.merchantId,
				accountId: c.accountId,
				contactId: c.contactId,
				conversationId: c._id,
				reason: a.reason ?? null,
				closedByUserId: a.byUserId ?? null,
			},
		];
	if (row.kind === "assign" && a.userId && state.assign(a.userId))
		return [
			"conversation.assigned",
			{ merchantId: c.merchantId, conversationId: c._id, contactId: c.contactId, userId: a.userId, byUserId: a.byUserId ?? null },
		];
	if (row.kind === "escalate" && state.escalate(at))
		return ["conversation.escalated", { merchantId: c.merchantId, conversationId: c._id, reason: a.reason ?? null }];
	return null;
}

async function loadConversations(
	merchantId: string,
	accountId: string,
	need: { open: string[]; byId: string[]; firstAt: Map<string, Date>; openedBefore: Set<string>; tenure: Tenure }
): Promise<{ open: Map<string, { conversation: Conversation; created: boolean }>; byId: Map<string, Conversation> }> {
	const { tenure } = need;
	const open = new Map<string, { conversation: Conversation; created: boolean }>();
	const byId = new Map<string, Conversation>();
	// What this tenure wrote last is what is stored (services/inbox/tenure.ts): read only the rest.
	const unknownOpen = need.open.filter(contactId => {
		const c = tenure.openConversationOf(contactId);
		if (c) open.set(contactId, { conversation: c, created: need.openedBefore.has(c._id) });
		return !c;
	});
	const unknownIds = need.byId.filter(id => {
		const c = tenure.conversation(id);
		if (c) byId.set(id, c);
		return !c;
	});
	const keys = unknownOpen.map(id => `open:${id}`);
	const found = [
		...(await findIn<Conversation>(ConversationModel, {}, "openKey", keys)),
		...(await findIn<Conversation>(ConversationModel, {}, "_id", unknownIds)),
	];
	for (const c of found) {
		tenure.rememberConversation(c);
		// Opened by this batch's first attempt: still new to everyone else.
		if (c.status === "open" && keys.includes(c.openKey)) open.set(c.contactId, { conversation: c, created: need.openedBefore.has(c._id) });
		if (unknownIds.includes(c._id)) byId.set(c._id, c);
	}
	const missing = need.open.filter(id => !open.has(id));
	if (missing.length) {
		const docs = missing.map(contactId =>
			new ConversationModel({
				merchantId,
				accountId,
				contactId,
				openKey: `open:${contactId}`,
				startedAt: need.firstAt.get(contactId),
				...conversationActivityFields(need.firstAt.get(contactId) ?? new Date()),
			}).toObject()
		);
		let failed = new Set<string>();
		await markActivityDays(
			ConversationActivityDayModel,
			merchantId,
			docs.map(d => d.activityAt)
		);
		await ConversationModel.insertMany(docs, { ordered: false, lean: true }).catch(err => {
			// Opened meanwhile by a send (the pipeline opens conversations too): use that one.
			const duplicates = duplicateIdsOf(err, docs);
			if (!duplicates) throw err;
			failed = new Set(docs.filter(d => duplicates.has(d._id)).map(d => d.contactId));
		});
		for (const doc of docs)
			if (!failed.has(doc.contactId)) {
				open.set(doc.contactId, { conversation: doc as Conversation, created: true });
				tenure.rememberConversation(doc as Conversation);
			}
		if (failed.size) {
			const winners = await findIn<Conversation>(
				ConversationModel,
				{},
				"openKey",
				[...failed].map(id => `open:${id}`)
			);
			for (const c of winners) {
				open.set(c.contactId, { conversation: c, created: false });
				tenure.rememberConversation(c);
			}
		}
	}
	return { open, byId };
}

/** Emits the events of stored messages once their counters are in place, and again those of replays. */
async function announce(ctx: Caller, news: NewMessage[], again: string[]): Promise<void> {
	for (const n of news) {
		const base = { merchantId: n.doc.merchantId, accountId: n.doc.accountId, contactId: n.doc.contactId };
		if (n.createdContact) ctx.emit("contact.created", { ...base, source: "inbound_message" });
		if (n.createdConversation) ctx.emit("conversation.created", { ...base, conversationId: n.doc.conversationId });
		ctx.emit(n.event.name, n.event.payload);
	}
	// Stored before (possibly by a batch that died before its events went out): announced again.
	if (again.length) {
		const rows = await findIn<Message>(MessageModel, {}, "_id", again);
		for (const m of rows) {
			const base = { merchantId: m.merchantId, accountId: m.accountId, contactId: m.contactId };
			if (m.createdContact) ctx.emit("contact.created", { ...base, source: "inbound_message" });
			if (m.createdConversation) ctx.emit("conversation.created", { ...base, conversationId: m.conversationId });
			ctx.emit(m.direction === "inbound" ? "message.received" : "message.sent", {
				...base,
				conversationId: m.conversationId,
				messageId: m._id,
				content: m.content,
				at: m.sentAt,
			});
		}
	}
}

/** The customer read up to an event: our outbound messages up to it are read. */
async function applyReads(ctx: Caller, accountId: string, merchantId: string, reads: ReadActivity[]): Promise<number> {
	if (!reads.length) return 0;
	const upTo = new Map(
		(
			await findIn<Message>(
				MessageModel,
				{ accountId },
				"twitterMessageId",
				reads.map(r => r.lastReadEventId),
				{ contactId: 1, sentAt: 1, twitterMessageId: 1 }
			)
		).map(m => [m.twitterMessageId, m])
	);
	let updated = 0;
	for (const r of reads) {
		const mark = upTo.get(r.lastReadEventId);
		if (!mark) continue;
		const reading = await MessageModel.find(
			{ contactId: mark.contactId, direction: "outbound", status: "sent", sentAt: { $lte: mark.sentAt } },
			{ _id: 1, origin: 1 }
		).lean();
		if (!reading.length) continue;
		await updateEach(
			MessageModel,
			reading.map(m => m._id as string),
			{ $set: { status: "read", readAt: new Date(r.at) } }
		);
		updated += reading.length;
		ctx.emit("message.read", {
			merchantId,
			accountId,
			contactId: mark.contactId,
			messages: reading.map(m => ({ messageId: m._id, origin: m.origin })),
			at: r.at,
		});
	}
	return updated;
}
