import type { Context } from "moleculer";
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
		await refreshConversationCounters(item.conversationId);
		await refreshContactCounters(item.contactId);
	}
}
