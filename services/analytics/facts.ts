import { quarterOf } from "./buckets.ts";

// What the analytics count, derived from the current state of one entity (a message, contact,
// conversation or campaign). Each entity has fixed "slots", one fact id per thing it can count
// for (`in:<messageId>`, `close:<conversationId>`...): a slot holds a fact or nothing. The live
// path (events) and the rebuild (a scan of the raw data) both call these functions, so they
// agree by construction; a replayed event finds the slot already holding the same fact.

export const FACT_TYPES = ["in", "out", "resp", "read", "fail", "first", "contact", "optout", "conv", "close", "esc", "campaign"] as const;
export type FactType = (typeof FACT_TYPES)[number];

export interface FactDraft {
	_id: string;
	merchantId: string;
	accountId: string;
	/** For erasure: every fact about a contact is found by it and dropped with the contact. */
	contactId: string | null;
	type: FactType;
	quarter: number;
	/** Breakdowns it counts toward besides the type's total ("origin:bot", "source:manual", "tag:vip"). */
	dims: string[];
	/** Seconds for the timed facts (response, first response, resolution); 0 otherwise. */
	value: number;
	/** The message behind a first-response fact. */
	ref: string | null;
}

export type Slots = Record<string, FactDraft | null>;

type When = Date | string | number | null | undefined;
const time = (at: When): number | null => {
	if (at === null || at === undefined) return null;
	const ms = at instanceof Date ? at.getTime() : new Date(at).getTime();
	return Number.isFinite(ms) ? ms : null;
};

export interface MessageLike {
	_id: string;
	merchantId: string;
	accountId: string;
	conversationId: string;
	contactId: string;
	direction: string;
	status: string;
	origin?: string | null;
	sentAt?: When;
	readAt?: When;
	createdAt?: When;
	responseSeconds?: number | null;
}

export interface ConversationLike {
	_id: string;
	merchantId: string;
	accountId: string;
	contactId: string;
	status: string;
	assignedToUserId?: string | null;
	startedAt?: When;
	createdAt?: When;
	firstResponseAt?: When;
	closedAt?: When;
	escalatedAt?: When;
}

export interface ContactLike {
	_id: string;
	merchantId: string;
	accountId: string;
	source?: string | null;
	tags?: string[] | null;
	createdAt?: When;
	firstInteractionAt?: When;
	optedOut?: boolean | null;
	optedOutAt?: When;
}

export interface CampaignLike {
	merchantId: string;
	campaignId: string;
	accountId?: string | null;
	completedAt: When;
}

const ORIGIN_KINDS = new Set(["agent", "bot", "x_app", "flow", "campaign"]);

/** "agent", "bot", "x_app", "flow", "campaign" (a message without an origin was an agent's). */
export function originKind(origin: string | null | undefined): string {
	const kind = (origin ?? "agent").split(":")[0];
	return ORIGIN_KINDS.has(kind) ? kind : "other";
}

/** The campaign of a message sent by one ("campaign:<id>"), else null. */
export function campaignOf(origin: string | null | undefined): string | null {
	return origin?.startsWith("campaign:") && origin.length > 9 ? origin.slice(9) : null;
}

function originKeys(origin: string | null | undefined): string[] {
	const campaign = campaignOf(origin);
	return campaign ? ["origin:campaign", `campaign:${campaign}`] : [`origin:${originKind(origin)}`];
}

const SENT = new Set(["sent", "read"]);

function fact(
	base: { merchantId: string; accountId: string; contactId: string | null },
	id: string,
	type: FactType,
	at: number,
	dims: string[] = [],
	value = 0,
	ref: string | null = null
): FactDraft {
	return {
		_id: id,
		merchantId: base.merchantId,
		accountId: base.accountId,
		contactId: base.contactId,
		type,
		quarter: quarterOf(at),
		dims: [...new Set(dims)].sort(),
		value,
		ref,
	};
}

export const messageSlotIds = (messageId: string) => ["in", "out", "resp", "read", "fail"].map(t => `${t}:${messageId}`);

/**
 * A message counts as received (inbound), sent (outbound that X accepted, by origin), a reply
 * with its response time (`responseSeconds`, set by the inbox on the reply to a customer's
 * message), read, or failed. A missing message (erased, or X's echo of our own send) counts for
 * nothing.
 */
export function messageFacts(messageId: string, m: MessageLike | null): Slots {
	const slots: Slots = Object.fromEntries(messageSlotIds(messageId).map(id => [id, null]));
	if (!m) return slots;
	const base = { merchantId: m.merchantId, accountId: m.accountId, contactId: m.contactId };
	const sentAt = time(m.sentAt) ?? time(m.createdAt);
	if (m.direction === "inbound") {
		if (sentAt !== null) slots[`in:${m._id}`] = fact(base, `in:${m._id}`, "in", sentAt);
		return slots;
	}
	const keys = originKeys(m.origin);
	if (SENT.has(m.status) && sentAt !== null) {
		slots[`out:${m._id}`] = fact(base, `out:${m._id}`, "out", sentAt, keys);
		if (typeof m.responseSeconds === "number") {
			slots[`resp:${m._id}`] = fact(base, `resp:${m._id}`, "resp", sentAt, [`origin:${originKind(m.origin)}`], m.responseSeconds);
		}
	}
	const readAt = time(m.readAt);
	if (m.status === "read" && readAt !== null) slots[`read:${m._id}`] = fact(base, `read:${m._id}`, "read", readAt, keys);
	const createdAt = time(m.createdAt) ?? sentAt;
	if (m.status === "failed" && createdAt !== null) slots[`fail:${m._id}`] = fact(base, `fail:${m._id}`, "fail", createdAt, keys);
	return slots;
}

export const firstSlotId = (conversationId: string) => `first:${conversationId}`;

/** Could `m` be the conversation's first response? (a sent reply at its `firstResponseAt`) */
export function isFirstResponse(m: MessageLike, conversation: ConversationLike): boolean {
	if (m.direction !== "outbound" || !SENT.has(m.status) || typeof m.responseSeconds !== "number" || m.conversationId !== conversation._id)
		return false;
	const first = time(conversation.firstResponseAt);
	return first !== null && first === time(m.sentAt);
}

/**
 * The conversation's first response: its reply sent at the conversation's `firstResponseAt`
 * (set once by the inbox), timed by that reply's `responseSeconds` (customer's message → reply),
 * by who answered and the conversation's assignee. Among `candidates` (its messages sent at that
 * instant) the smallest id wins when two qualify, here and in the rebuild alike.
 */
export function firstResponseFact(conversation: ConversationLike | null, candidates: MessageLike[]): FactDraft | null {
	if (!conversation) return null;
	const m = candidates.filter(c => isFirstResponse(c, conversation)).sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))[0];
	if (!m) return null;
	const base = { merchantId: conversation.merchantId, accountId: conversation.accountId, contactId: conversation.contactId };
	const dims = [`origin:${originKind(m.origin)}`, `assignee:${conversation.assignedToUserId ?? ""}`];
	return fact(base, firstSlotId(conversation._id), "first", time(m.sentAt)!, dims, m.responseSeconds!, m._id);
}

export const conversationSlotIds = (id: string) => [`conv:${id}`, `close:${id}`, `esc:${id}`, firstSlotId(id)];

/**
 * Opened (when it started), closed (with its resolution time and assignee), escalated to a
 * human, and its first response (from `candidates`: its messages sent at `firstResponseAt`).
 */
export function conversationFacts(id: string, c: ConversationLike | null, candidates: MessageLike[] = []): Slots {
	const slots: Slots = Object.fromEntries(conversationSlotIds(id).map(s => [s, null]));
	if (!c) return slots;
	slots[firstSlotId(id)] = firstResponseFact(c, candidates);
	const base = { merchantId: c.merchantId, accountId: c.accountId, contactId: c.contactId };
	const started = time(c.startedAt) ?? time(c.createdAt);
	if (started !== null) slots[`conv:${id}`] = fact(base, `conv:${id}`, "conv", started);
	const closed = time(c.closedAt);
	if (c.status === "closed" && closed !== null) {
		const resolution = started !== null ? Math.max(0, Math.round((closed - started) / 1000)) : 0;
		slots[`close:${id}`] = fact(base, `close:${id}`, "close", closed, [`assignee:${c.assignedToUserId ?? ""}`], resolution);
	}
	const escalated = time(c.escalatedAt);
	if (escalated !== null) slots[`esc:${id}`] = fact(base, `esc:${id}`, "esc", escalated);
	return slots;
}

export const contactSlotIds = (id: string) => [`contact:${id}`, `optout:${id}`];

/**
 * New (by source and by the tags it carries now) and opted out (if it still is). A contact is new
 * at its first interaction or its creation, whichever came first: the inbox may store an X
 * message (and create its contact) some time after the customer wrote it.
 */
export function contactFacts(id: string, c: ContactLike | null): Slots {
	const slots: Slots = Object.fromEntries(contactSlotIds(id).map(s => [s, null]));
	if (!c) return slots;
	const base = { merchantId: c.merchantId, accountId: c.accountId, contactId: c._id };
	const times = [time(c.createdAt), time(c.firstInteractionAt)].filter((x): x is number => x !== null);
	const created = times.length ? Math.min(...times) : null;
	if (created !== null) {
		const keys = [`source:${c.source ?? "inbound_message"}`, ...(c.tags ?? []).map(t => `tag:${t}`)];
		slots[`contact:${id}`] = fact(base, `contact:${id}`, "contact", created, keys);
	}
	const optedOut = time(c.optedOutAt);
	if (c.optedOut && optedOut !== null) slots[`optout:${id}`] = fact(base, `optout:${id}`, "optout", optedOut);
	return slots;
}

export const campaignSlotId = (merchantId: string, campaignId: string) => `campaign:${merchantId}:${campaignId}`;

/** A completed campaign, counted when it completed, under its account when it has one. */
export function campaignFacts(c: CampaignLike): Slots {
	const id = campaignSlotId(c.merchantId, c.campaignId);
	const at = time(c.completedAt);
	if (at === null) return { [id]: null };
	return {
		[id]: fact({ merchantId: c.merchantId, accountId: c.accountId ?? "", contactId: null }, id, "campaign", at, [
			`campaign:${c.campaignId}`,
		]),
	};
}

/** Same fact? (what a slot holds against what it should hold) */
export function sameFact(a: FactDraft | null, b: FactDraft | null): boolean {
	if (!a || !b) return a === b;
	return (
		a.merchantId === b.merchantId &&
		a.accountId === b.accountId &&
		a.contactId === b.contactId &&
		a.type === b.type &&
		a.quarter === b.quarter &&
		a.value === b.value &&
		a.ref === b.ref &&
		a.dims.length === b.dims.length &&
		a.dims.every((k, i) => k === b.dims[i])
	);
}
