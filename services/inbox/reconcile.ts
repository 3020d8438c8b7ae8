import { Type, type Static } from "@sinclair/typebox";
import { XProfileOrNull } from "../../lib/schema.ts";
import type { Logger, ServiceBroker } from "moleculer";
import { ConversationModel, conversationActivityFields, type Conversation } from "../../models/conversation.model.ts";
import { ConversationActivityDayModel } from "../../models/conversation-activity-day.model.ts";
import { markActivityDays } from "../../lib/activity-days.ts";
import { MessageModel } from "../../models/message.model.ts";
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
		for (const c of page) {
			conversations++;
			const [count, last] = await Promise.all([
				MessageModel.countDocuments({ conversationId: c._id, status: { $in: ["received", "sent", "read"] } }),
				MessageModel.findOne({ conversationId: c._id, status: { $in: ["received", "sent", "read"] } }, { sentAt: 1 })
					.sort({ sentAt: -1 })
					.lean(),
			]);
			const lastAt = last?.sentAt ? new Date(last.sentAt).toISOString() : null;
			const storedAt = c.lastMessageAt ? new Date(c.lastMessageAt).toISOString() : null;
			if (count !== (c.messageCount ?? 0))
				drift.push({ kind: "conversation", id: c._id, field: "messageCount", stored: c.messageCount ?? 0, counted: count });
			if (lastAt !== storedAt) drift.push({ kind: "conversation", id: c._id, field: "lastMessageAt", stored: storedAt, counted: lastAt });
			if (params.fix && (count !== (c.messageCount ?? 0) || lastAt !== storedAt)) {
				const activity = last?.sentAt ? conversationActivityFields(new Date(last.sentAt)) : {};
				if (last?.sentAt) await markActivityDays(ConversationActivityDayModel, c.merchantId, [new Date(last.sentAt)]);
				await ConversationModel.updateOne(
					{ _id: c._id },
					{ $set: { messageCount: count, lastMessageAt: last?.sentAt ?? null, ...activity } }
				);
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
	for (const [contactId, entry] of contacts) {
		const [received, sent] = await Promise.all([
			MessageModel.countDocuments({ contactId, direction: "inbound" }),
			MessageModel.countDocuments({ contactId, direction: "outbound", status: { $in: ["sent", "read"] } }),
		]);
		entry.figures.messagesReceived = received;
		entry.figures.messagesSent = sent;
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
