import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { onlyDuplicates } from "../../lib/ids.ts";
import type { XUserProfile } from "../webhooks/account-activity.ts";

// The inbox's queue of account activity (models/inbox-activity.model.ts): what comes in (DMs and
// read receipts, enqueued by the webhooks service once X's delivery is stored) and what our own
// senders got through (recordSent). Senders never write conversation or contact figures
// themselves: the one writer of the account applies the queue in order (services/inbox/writer.ts,
// docs/ingest.md).

export type SendKind = "agent" | "bot" | "campaign" | "flow";

/** A DM event from X, as the webhooks service read it. */
export interface DmActivity {
	eventId: string;
	createdAt: string;
	senderId: string;
	recipientId: string;
	text: string;
	mediaUrl: string | null;
	/** The customer's X id: the sender, or the recipient of a DM the account wrote. */
	customerId: string;
	/** Written by the account (in X's app, or the echo of our own send). */
	outbound: boolean;
	profile: XUserProfile | null;
}

/** The customer read the account's messages up to `lastReadEventId`. */
export interface ReadActivity {
	readerId: string;
	lastReadEventId: string;
	at: string;
	customerId: string;
}

export interface SentActivityData {
	messageId: string;
	conversationId: string;
	contactId: string;
	sentAt: string;
	kind: SendKind;
	/** X's id of the DM: its echo, if the writer stored it first, is then dropped, not counted twice. */
	twitterMessageId: string | null;
}

export interface SentActivity {
	messageId: string;
	merchantId: string;
	accountId: string;
	conversationId: string;
	contactId: string;
	sentAt: Date;
	kind: SendKind;
	twitterMessageId?: string | null;
	/** Informational: the writer counts a conversation for the contact at its first message. */
	createdConversation?: boolean;
}

/** Broadcast to every inbox node when rows are queued: idle writers look at once. */
export const ACTIVITY_QUEUED = "inbox.activity.queued";

/** An agent's or the bot's change to a conversation, applied by the writer in order with the messages. */
export interface ConversationActionData {
	conversationId: string;
	/** close: the reason; escalate: why the bot asked for a person. */
	reason?: string | null;
	/** assign: the assignee. */
	userId?: string;
	/** Who asked (close, assign): carried into the event. */
	byUserId?: string | null;
}

export type ConversationActionKind = "close" | "assign" | "escalate";

export interface Row {
	_id: string;
	accountId: string;
	merchantId: string;
	kind: "dm" | "read" | "sent" | ConversationActionKind;
	at: Date;
	data: DmActivity | ReadActivity | SentActivityData | ConversationActionData;
}

/** A context or the broker: whatever can broadcast the wake-up. */
type Emitter = { broadcast(event: string, payload: unknown): unknown };

/** Queues rows once each (their ids are derived from what they are); returns how many were new. */
export async function enqueue(emitter: Emitter, rows: Row[]): Promise<number> {
	if (!rows.length) return 0;
	let inserted = rows.length;
	await InboxActivityModel.insertMany(rows, { ordered: false }).catch(err => {
		if (!onlyDuplicates(err)) throw err;
		inserted -= ((err as { writeErrors?: unknown[] }).writeErrors ?? []).length;
	});
	await emitter.broadcast(ACTIVITY_QUEUED, { accountIds: [...new Set(rows.map(r => r.accountId))] });
	return inserted;
}

export function dmRows(merchantId: string, accountId: string, dms: DmActivity[], reads: ReadActivity[]): Row[] {
	return [
		...dms.map(d => ({
			_id: `dm:${accountId}:${d.eventId}`,
			accountId,
			merchantId,
			kind: "dm" as const,
			at: new Date(d.createdAt),
			data: d,
		})),
		...reads.map(r => ({
			_id: `read:${accountId}:${r.readerId}:${r.lastReadEventId}`,
			accountId,
			merchantId,
			kind: "read" as const,
			at: new Date(r.at),
			data: r,
		})),
	];
}

/** Records messages X accepted so the account's writer updates the figures they move. */
export async function recordSent(ctx: Emitter, items: SentActivity[]): Promise<void> {
	await enqueue(
		ctx,
		items.map(i => ({
			_id: `sent:${i.messageId}`,
			accountId: i.accountId,
			merchantId: i.merchantId,
			kind: "sent" as const,
			at: i.sentAt,
			data: {
				messageId: i.messageId,
				conversationId: i.conversationId,
				contactId: i.contactId,
				sentAt: i.sentAt.toISOString(),
				kind: i.kind,
				twitterMessageId: i.twitterMessageId ?? null,
			},
		}))
	);
}
