import type { Context } from "moleculer";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { refreshContactCounters, refreshConversationCounters } from "./records.ts";

// The seam between the send pipeline and the inbox's counters. Senders (agents, campaigns,
// flows, the bot) never write conversation or contact counters themselves: they record what
// they sent here, and the one writer of the account's partition applies it (see docs/ingest.md).
// Stub while the partition writer lands: recounts as before.

export type SendKind = "agent" | "bot" | "campaign" | "flow";

export interface SentActivity {
	messageId: string;
	merchantId: string;
	accountId: string;
	conversationId: string;
	contactId: string;
	sentAt: Date;
	kind: SendKind;
	/** The send opened the conversation (the contact's conversationCount goes up once). */
	createdConversation: boolean;
}

/** Records messages X accepted so the account's writer updates the counters they move. */
export async function recordSent(_ctx: Context, items: SentActivity[]): Promise<void> {
	for (const item of items) {
		// An agent's or the bot's DM answers the customer (a campaign's or a flow's does not):
		// the response time, and the conversation no longer awaits a reply (nor a human, for an agent).
		if (item.kind === "agent" || item.kind === "bot") {
			const conversation = await ConversationModel.findById(item.conversationId, { awaitingReplySince: 1 }).lean();
			const awaiting = conversation?.awaitingReplySince ? new Date(conversation.awaitingReplySince) : null;
			if (awaiting) await MessageModel.updateOne({ _id: item.messageId }, { $set: { responseSeconds: Math.max(0, Math.round((item.sentAt.getTime() - awaiting.getTime()) / 1000)) } });
			await ConversationModel.updateOne({ _id: item.conversationId }, { $set: { awaitingReplySince: null, ...(item.kind === "agent" ? { needsHuman: false } : {}) } });
			await ConversationModel.updateOne({ _id: item.conversationId, firstResponseAt: null }, { $set: { firstResponseAt: item.sentAt } });
		}
		await refreshConversationCounters(item.conversationId);
		await refreshContactCounters(item.contactId);
	}
}
