import { Type, type Static } from "@sinclair/typebox";
import { XProfileOrNull } from "../../lib/schema.ts";
import type { Logger, ServiceBroker } from "moleculer";
import { ConversationModel, conversationActivityFields, type Conversation } from "../../models/conversation.model.ts";
import { ConversationActivityDayModel } from "../../models/conversation-activity-day.model.ts";
import { markActivityDays } from "../../lib/activity-days.ts";
import { MessageModel, type Message } from "../../models/message.model.ts";
import { findIn } from "../../lib/lookups.ts";
import { call } from "../../lib/calls.ts";

// The figures the account writers keep by increments (a conversation's message count and last
// message, a contact's messages, conversations and last interaction), recounted from the rows
// themselves: a check that nothing was lost or counted twice, and the repair when something was
// (a batch that died between its writes, an operator's hand). Offline work: it pages through
// every conversation and counts per row, so it is run by `npm run inbox:reconcile`, never on a
// request path. With `fix` it writes the recount; run it while no burst is being drained, or
// run it twice (a batch applied in between is then seen as drift once more).

export const EnqueueParams = Type.Object({
	accountId: Type.String({ minLength: 1 }),
	dms: Type.Array(
		Type.Object({
			eventId: Type.String({ minLength: 1 }),
			createdAt: Type.String(),
			senderId: Type.String(),
			recipientId: Type.String(),
			text: Type.String(),
			mediaUrl: Type.Union([Type.Null(), Type.String()]),
			customerId: Type.String({ minLength: 1 }),
			outbound: Type.Boolean(),
			profile: XProfileOrNull,
		}),
		{ maxItems: 1000 }
	),
	reads: Type.Array(
		Type.Object({ readerId: Type.String(), lastReadEventId: Type.String(), at: Type.String(), customerId: Type.String() }),
		{ maxItems: 1000 }
	),
});

export const ReconcileParams = Type.Object({
	merchantId: Type.Optional(Type.String({ minLength: 1 })),
	fix: Type.Optional(Type.Boolean()),
});

export interface ContactFigures {
	contactId: string;
	messagesReceived: number;
	messagesSent: number;
	conversationCount: number;
}

export interface Drift {
	kind: "conversation" | "contact";
	id: string;
	field: string;
	stored: unknown;
	counted: unknown;
}

const PAGE = 200;
/** Conversations (or contacts) whose messages are read in one lookup. */
const LOOKUP = 50;
const COUNTED = new Set(["received", "sent", "read"]);

/**
 * The messages counted in each conversation and the latest one's time, from one lookup of their
 * messages per LOOKUP conversations (lib/lookups.ts: one `$in` on MongoDB and on FerretDB's
 * SQLite backend, whose every such query reads the whole table; one equality query per
 * conversation on FerretDB on PostgreSQL), instead of a count and a sorted read per conversation.
 */
async function countByConversation(ids: string[]): Promise<Map<string, { count: number; last: Date | null }>> {
	const out = new Map<string, { count: number; last: Date | null }>();
	for (let i = 0; i < ids.length; i += LOOKUP) {
		const messages = await findIn<Pick<Message, "conversationId" | "sentAt" | "status">>(
			MessageModel,
			{},
			"conversationId",
			ids.slice(i, i + LOOKUP),
			{ conversationId: 1, sentAt: 1, status: 1 }
		);
		for (const m of messages) {
			if (!COUNTED.has(m.status)) continue;
			const entry = out.get(m.conversationId) ?? { count: 0, last: null };
			entry.count++;
			const at = m.sentAt ? new Date(m.sentAt) : null;
			if (at && (!entry.last || at > entry.last)) entry.last = at;
			out.set(m.conversationId, entry);
		}
	}
	return out;
}

export async function reconcile(
	caller: Pick<ServiceBroker, "call">,
	params: Static<typeof ReconcileParams>,
	logger: Pick<Logger, "info">
): Promise<{ conversations: number; contacts: number; drift: Drift[]; fixed: boolean }> {
	const drift: Drift[] = [];
	const contacts = new Map<string, { merchantId: string; figures: ContactFigures }>();
	let after = "";
	let conversations = 0;
	for (;;) {
		const page = await ConversationModel.find({ _id: { $gt: after }, ...(params.merchantId ? { merchantId: params.merchantId } : {}) })
			.sort({ _id: 1 })
			.limit(PAGE)
			.lean<Conversation[]>();
		if (!page.length) break;
		after = page[page.length - 1]._id;
		const counted = await countByConversation(page.map(c => c._id));
		for (const c of page) {
			conversations++;
			const { count, last } = counted.get(c._id) ?? { count: 0, last: null };
			const lastAt = last ? last.toISOString() : null;
			const storedAt = c.lastMessageAt ? new Date(c.lastMessageAt).toISOString() : null;
			if (count !== (c.messageCount ?? 0))
				drift.push({ kind: "conversation", id: c._id, field: "messageCount", stored: c.messageCount ?? 0, counted: count });
			if (lastAt !== storedAt) drift.push({ kind: "conversation", id: c._id, field: "lastMessageAt", stored: storedAt, counted: lastAt });
			if (params.fix && (count !== (c.messageCount ?? 0) || lastAt !== storedAt)) {
				const activity = last ? conversationActivityFields(last) : {};
				if (last) await markActivityDays(ConversationActivityDayModel, c.merchantId, [last]);
				await ConversationModel.updateOne({ _id: c._id }, { $set: { messageCount: count, lastMessageAt: last, ...activity } });
			}
			const entry = contacts.get(c.contactId) ?? {
				merchantId: c.merchantId,
				figures: { contactId: c.contactId, messagesReceived: 0, messagesSent: 0, conversationCount: 0 },
			};
			if (count > 0) entry.figures.conversationCount++;
			contacts.set(c.contactId, entry);
		}
		logger.info(`inbox:reconcile: ${conversations} conversations checked, ${drift.length} drifted figures so far`);
	}
	const ids = [...contacts.keys()];
	for (let i = 0; i < ids.length; i += LOOKUP) {
		const messages = await findIn<Pick<Message, "contactId" | "direction" | "status">>(
			MessageModel,
			{},
			"contactId",
			ids.slice(i, i + LOOKUP),
			{ contactId: 1, direction: 1, status: 1 }
		);
		for (const m of messages) {
			const figures = contacts.get(m.contactId)?.figures;
			if (!figures) continue;
			if (m.direction === "inbound") figures.messagesReceived++;
			else if (m.status === "sent" || m.status === "read") figures.messagesSent++;
		}
	}
	const byMerchant = new Map<string, ContactFigures[]>();
	for (const { merchantId, figures } of contacts.values()) byMerchant.set(merchantId, [...(byMerchant.get(merchantId) ?? []), figures]);
	for (const [merchantId, list] of byMerchant) {
		for (let i = 0; i < list.length; i += PAGE) {
			const found = await call(caller, "contacts.reconcileActivity", {
				merchantId,
				figures: list.slice(i, i + PAGE),
				fix: Boolean(params.fix),
			});
			drift.push(...found);
		}
	}
	return { conversations, contacts: contacts.size, drift, fixed: Boolean(params.fix) };
}
