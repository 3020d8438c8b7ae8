import type { Conversation } from "../../models/conversation.model.ts";
import { activityKeys } from "../../lib/activity-buckets.ts";

// What a batch of activity does to a conversation's and a contact's figures, computed in memory
// by the account's one writer from the values it read (no other writer changes them), then
// written once per document. Pure: tested in test/unit/inbox-tally.test.ts.

/** inbound: the customer wrote; reply: a person or the bot answered; broadcast: a campaign or flow message. */
export type MessageRole = "inbound" | "reply" | "broadcast";

const later = (a: Date | null, b: Date) => (a && a >= b ? a : b);
const earlier = (a: Date | null, b: Date) => (a && a <= b ? a : b);
const date = (v: unknown): Date | null => (v ? new Date(v as string) : null);

export class ConversationState {
	readonly id: string;
	messageCount: number;
	lastMessageAt: Date | null;
	lastInboundAt: Date | null;
	awaitingReplySince: Date | null;
	firstResponseAt: Date | null;
	needsHuman: boolean;
	status: string;
	/** The last message added was the conversation's first. */
	firstMessage = false;
	private changed = false;
	/** Fields set by agents' and the bot's actions (close, assign, escalate), applied in order with the messages. */
	private readonly actionSet: Record<string, unknown> = {};

	constructor(
		c: Pick<
			Conversation,
			"_id" | "messageCount" | "lastMessageAt" | "lastInboundAt" | "awaitingReplySince" | "firstResponseAt" | "needsHuman"
		> &
			Partial<Pick<Conversation, "status">>
	) {
		this.id = c._id;
		this.messageCount = c.messageCount ?? 0;
		this.lastMessageAt = date(c.lastMessageAt);
		this.lastInboundAt = date(c.lastInboundAt);
		this.awaitingReplySince = date(c.awaitingReplySince);
		this.firstResponseAt = date(c.firstResponseAt);
		this.needsHuman = Boolean(c.needsHuman);
		this.status = c.status ?? "open";
	}

	/** An agent closes it (frees the contact's open claim); false when it was closed already. */
	close(at: Date, reason: string | null): boolean {
		if (this.status !== "open") return false;
		this.changed = true;
		this.status = "closed";
		this.needsHuman = false;
		Object.assign(this.actionSet, { status: "closed", openKey: `closed:${this.id}`, closedAt: at, closeReason: reason });
		return true;
	}

	assign(userId: string): boolean {
		this.changed = true;
		this.actionSet.assignedToUserId = userId;
		return true;
	}

	/** The bot asks for a person; false when one was asked for already. */
	escalate(at: Date): boolean {
		if (this.needsHuman) return false;
		this.changed = true;
		this.needsHuman = true;
		this.actionSet.escalatedAt = at;
		return true;
	}

	/** Adds one message; returns the response time in seconds when it answers a waiting customer. */
	add(role: MessageRole, at: Date, clearsNeedsHuman = false): number | null {
		this.changed = true;
		this.firstMessage = this.messageCount === 0;
		this.messageCount++;
		this.lastMessageAt = later(this.lastMessageAt, at);
		if (role === "inbound") {
			this.lastInboundAt = later(this.lastInboundAt, at);
			if (!this.awaitingReplySince) this.awaitingReplySince = at;
			return null;
		}
		if (role === "broadcast") return null;
		const seconds = this.awaitingReplySince ? Math.max(0, Math.round((at.getTime() - this.awaitingReplySince.getTime()) / 1000)) : null;
		this.awaitingReplySince = null;
		if (!this.firstResponseAt) this.firstResponseAt = at;
		if (clearsNeedsHuman) this.needsHuman = false;
		return seconds;
	}

	update(): { id: string; update: { $set: Record<string, unknown> } } | null {
		if (!this.changed) return null;
		const { messageCount, lastMessageAt, lastInboundAt, awaitingReplySince, firstResponseAt, needsHuman } = this;
		return {
			id: this.id,
			update: {
				$set: {
					messageCount,
					lastMessageAt,
					lastInboundAt,
					awaitingReplySince,
					firstResponseAt,
					needsHuman,
					...this.actionSet,
					// the inbox's page order follows the last message (lib/activity-buckets.ts)
					...(lastMessageAt ? { activityAt: lastMessageAt, activityKeys: activityKeys(lastMessageAt) } : {}),
				},
			},
		};
	}
}

/** Changes to one contact's activity figures, applied by the contacts service (their owner). */
export interface ContactActivity {
	contactId: string;
	inc: {
		messagesReceived: number;
		messagesSent: number;
		conversationCount: number;
		responseCount: number;
		responseTimeTotalSeconds: number;
	};
	lastInteractionAt: string | null;
	lastInboundAt: string | null;
	firstInteractionAt: string | null;
}

export class ContactTally {
	private readonly inc = { messagesReceived: 0, messagesSent: 0, conversationCount: 0, responseCount: 0, responseTimeTotalSeconds: 0 };
	private lastInteractionAt: Date | null = null;
	private lastInboundAt: Date | null = null;
	private firstInteractionAt: Date | null = null;
	readonly contactId: string;

	constructor(contactId: string) {
		this.contactId = contactId;
	}

	add(direction: "inbound" | "outbound", at: Date, firstOfConversation: boolean, responseSeconds: number | null): void {
		if (direction === "inbound") {
			this.inc.messagesReceived++;
			this.lastInboundAt = later(this.lastInboundAt, at);
		} else {
			this.inc.messagesSent++;
		}
		if (firstOfConversation) this.inc.conversationCount++;
		if (responseSeconds !== null) {
			this.inc.responseCount++;
			this.inc.responseTimeTotalSeconds += responseSeconds;
		}
		this.lastInteractionAt = later(this.lastInteractionAt, at);
		this.firstInteractionAt = earlier(this.firstInteractionAt, at);
	}

	toUpdate(): ContactActivity | null {
		if (!this.lastInteractionAt) return null;
		return {
			contactId: this.contactId,
			inc: { ...this.inc },
			lastInteractionAt: this.lastInteractionAt.toISOString(),
			lastInboundAt: this.lastInboundAt?.toISOString() ?? null,
			firstInteractionAt: this.firstInteractionAt?.toISOString() ?? null,
		};
	}
}

/**
 * `activity` as update statements that need no read of the contact: run in this order (ordered),
 * they leave exactly what `applyContactActivity` computes from the stored values, given what every
 * writer of contacts keeps true (a contact with a last interaction has a first one, and its
 * `activityAt` is its last interaction). Counters by `$inc`, the last inbound time by `$max`, the
 * first interaction by `$min` (and set where it is null: `$min` keeps a null). The last interaction
 * moves with its derived `activityAt` and `activityKeys` only where it is earlier (or null), so
 * the one statement that matches of the last two says which.
 */
export function contactActivityStatements(
	merchantId: string,
	activity: ContactActivity
): { updateOne: { filter: Record<string, unknown>; update: Record<string, Record<string, unknown>> } }[] {
	const id = { _id: activity.contactId, merchantId };
	// every counter, zeros too: a missing one becomes 0 as the computed figures make it
	const always: Record<string, Record<string, unknown>> = { $inc: { ...activity.inc } };
	if (activity.lastInboundAt) always.$max = { lastInboundAt: new Date(activity.lastInboundAt) };
	const statements = [];
	if (activity.firstInteractionAt) {
		const first = new Date(activity.firstInteractionAt);
		statements.push({ updateOne: { filter: { ...id, firstInteractionAt: null }, update: { $set: { firstInteractionAt: first } } } });
		always.$min = { firstInteractionAt: first };
	}
	if (!activity.lastInteractionAt) {
		statements.push({ updateOne: { filter: id, update: always } });
		return statements;
	}
	const at = new Date(activity.lastInteractionAt);
	// Not later than what is stored: the figures move, the last interaction stays. Before the other,
	// which would make this one match too.
	statements.push({ updateOne: { filter: { ...id, lastInteractionAt: { $gte: at } }, update: always } });
	statements.push({
		updateOne: {
			filter: { ...id, $or: [{ lastInteractionAt: null }, { lastInteractionAt: { $lt: at } }] },
			// the contacts list's order follows the last interaction (lib/activity-buckets.ts)
			update: { ...always, $set: { lastInteractionAt: at, activityAt: at, activityKeys: activityKeys(at) } },
		},
	});
	return statements;
}

/** A contact's figures after `activity`, from the values stored now (what `contactActivityStatements` must leave). */
export function applyContactActivity(
	current: {
		messagesReceived?: number | null;
		messagesSent?: number | null;
		conversationCount?: number | null;
		responseCount?: number | null;
		responseTimeTotalSeconds?: number | null;
		lastInteractionAt?: unknown;
		lastInboundAt?: unknown;
		firstInteractionAt?: unknown;
	},
	activity: ContactActivity
): Record<string, unknown> {
	const set: Record<string, unknown> = {};
	for (const [field, n] of Object.entries(activity.inc))
		set[field] = ((current as Record<string, number | null | undefined>)[field] ?? 0) + n;
	if (activity.lastInteractionAt) {
		const at = later(date(current.lastInteractionAt), new Date(activity.lastInteractionAt));
		// the contacts list's order follows the last interaction (lib/activity-buckets.ts)
		Object.assign(set, { lastInteractionAt: at, activityAt: at, activityKeys: activityKeys(at) });
	}
	if (activity.lastInboundAt) set.lastInboundAt = later(date(current.lastInboundAt), new Date(activity.lastInboundAt));
	if (activity.firstInteractionAt)
		set.firstInteractionAt = earlier(date(current.firstInteractionAt), new Date(activity.firstInteractionAt));
	return set;
}
