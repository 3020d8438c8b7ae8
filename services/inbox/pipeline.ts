import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import { ContactModel } from "../../models/contact.model.ts";
import { AccountModel } from "../../models/account.model.ts";
import { ConversationModel, conversationActivityFields, type Conversation } from "../../models/conversation.model.ts";
import { ConversationActivityDayModel } from "../../models/conversation-activity-day.model.ts";
import { markActivityDays } from "../../lib/activity-days.ts";
import { MessageModel } from "../../models/message.model.ts";
import { IdempotencyKeyModel } from "../../models/idempotency-key.model.ts";
import { uuidFromName } from "../../lib/ids.ts";
import { callFor } from "../../lib/calls.ts";
import { findIn } from "../../lib/lookups.ts";
import type { DmResult } from "../x/send-batch.ts";
import { automatedSendSkipReason, type SkipReason } from "./eligibility.ts";
import { recordSent, type SendKind, type SentActivity } from "./activity.ts";

// The one way a DM leaves mkt-x, for every sender: an agent in the inbox, the bot, campaigns
// and flows. For a batch of one merchant's contacts it costs a fixed number of commands, not a
// number per DM: one read of the contacts, one of their accounts, one of their open
// conversations (+ one insert of the missing ones), one x service call per account (which
// claims its send slots per batch), one insert of the messages with their outcomes, one
// recordSent. What X accepted is `sent`; what X refused, `failed`; what may or may not have
// reached X, `unknown` (never resent). What was not sent at all (a send limit, X's 429, X out
// or unreachable) is `held`: no message is stored and its Idempotency-Key claim is removed, so a
// later try sends it. Exactly once is the ledger's and the callers' claims (unique inserts), not
// the message row's: a message is written once, with X's answer, because on FerretDB updating a
// batch's rows costs a transaction per row. Counters are not the sender's business: recordSent
// hands what X accepted to the inbox's writer.

export interface SendItem {
	/** The caller's id for this item (a delivery id, a contact id): outcomes answer by it. */
	key: string;
	contactId: string;
	content: string;
	type?: string;
	imageUrl?: string | null;
	/** A repeat with the same key answers the first send's outcome (unless nothing was sent). */
	idempotencyKey?: string;
}

export interface SendRequest {
	merchantId: string;
	kind: SendKind;
	/** "agent", "bot", "campaign:<id>", "flow:<runId>" */
	origin: string;
	sentByUserId?: string | null;
	/** An agent answers in this conversation (open, of the item's contact); others in the contact's open one. */
	conversation?: Conversation;
	items: SendItem[];
}

type Base = { key: string };
export type SendOutcome =
	| (Base & { status: "sent"; messageId: string; conversationId: string; twitterMessageId: string; sentAt: string })
	| (Base & { status: "failed" | "unknown"; messageId: string | null; conversationId: string | null; reason: string })
	| (Base & { status: "skipped"; reason: SkipReason })
	/** Nothing was sent and nothing is left behind: try again at retryAt. */
	| (Base & {
			status: "held";
			cause: "rate_limited" | "x_unavailable";
			reason: string;
			retryAt: string;
			retryAfter: number;
			source: string;
			limits: string[];
	  })
	/** The same Idempotency-Key is being sent by another request right now. */
	| (Base & { status: "in_progress" });

/** How long a batch waits for the x service: DMs go a few at a time, each bounded by X_API_TIMEOUT_MS. */
const X_CALL_TIMEOUT_MS = 10 * 60_000;
/** X out or unreachable: the first retry after this long (callers back off from there). */
export const OUTAGE_RETRY_SECONDS = 30;

const claimIdOf = (req: SendRequest, key: string) => `${req.merchantId}:${req.kind === "agent" ? "conversation-send" : "send"}:${key}`;

/** The indexes of an unordered insertMany's duplicates; null when anything else failed. */
function duplicateIndexes(err: unknown): Set<number> | null {
	const e = err as { code?: number; writeErrors?: { index: number; code: number }[] | { index: number; code: number } };
	const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
	if (!list.length || !list.every(w => w.code === 11000)) return null;
	return new Set(list.map(w => w.index));
}

/** Inserts rows, tolerating duplicates of the unique index; the indexes that were duplicates. */
async function insertAll(
	model: { collection: { insertMany(docs: never[], opts: object): Promise<unknown> } },
	rows: object[]
): Promise<Set<number>> {
	if (!rows.length) return new Set();
	try {
		await model.collection.insertMany(rows as never[], { ordered: false });
		return new Set();
	} catch (err) {
		const dups = duplicateIndexes(err);
		if (!dups) throw err;
		return dups;
	}
}

function earlierOutcome(
	key: string,
	m:
		| {
				_id: string;
				status: string;
				conversationId: string;
				twitterMessageId?: string | null;
				sentAt?: Date | null;
				failureReason?: string | null;
		  }
		| undefined
): SendOutcome {
	if (!m || m.status === "pending") return { key, status: "in_progress" };
	if (m.status === "sent" || m.status === "read")
		return {
			key,
			status: "sent",
			messageId: m._id,
			conversationId: m.conversationId,
			twitterMessageId: m.twitterMessageId ?? "",
			sentAt: new Date(m.sentAt ?? Date.now()).toISOString(),
		};
	return {
		key,
		status: m.status === "unknown" ? "unknown" : "failed",
		messageId: m._id,
		conversationId: m.conversationId,
		reason: m.failureReason ?? "send failed",
	};
}

function heldOf(key: string, r: DmResult): SendOutcome {
	if (r.outcome === "rate_limited")
		return {
			key,
			status: "held",
			cause: "rate_limited",
			reason: r.message,
			retryAt: r.retryAt,
			retryAfter: r.retryAfter,
			source: r.source,
			limits: r.limits,
		};
	const reason = r.outcome === "unavailable" ? r.reason : "X could not be reached";
	return {
		key,
		status: "held",
		cause: "x_unavailable",
		reason,
		retryAt: new Date(Date.now() + OUTAGE_RETRY_SECONDS * 1000).toISOString(),
		retryAfter: OUTAGE_RETRY_SECONDS,
		source: "x",
		limits: [],
	};
}

/** What a thrown x service call means for every DM of its batch. */
function thrownResult(ref: string, err: unknown): DmResult {
	const e = err as { code?: number; type?: string; message?: string };
	// Refused before anything went to X: the account, or X not configured or unreachable.
	if (e.type === "UPSTREAM_UNAVAILABLE" || e.type === "X_NOT_CONFIGURED")
		return { ref, outcome: "unavailable", reason: e.message ?? e.type };
	if (typeof e.code === "number" && e.code >= 400 && e.code < 500)
		return { ref, outcome: "rejected", reason: `${e.type ?? "ERROR"}: ${e.message ?? ""}` };
	// A timeout, a lost node, X_DELIVERY_UNKNOWN: the DMs may or may not have gone out.
	return { ref, outcome: "unknown", reason: `outcome_unknown: ${e.message ?? "error"}` };
}

/** Sends a batch of one merchant's DMs; one outcome per item, in order. */
export async function sendBatch(ctx: Context, req: SendRequest): Promise<SendOutcome[]> {
	const { merchantId, kind } = req;
	const now = new Date();
	const outcomes = new Map<string, SendOutcome>();

	// 1. Who may get what: the contacts and their accounts, under X's rules for automated DMs.
	const contactIds = [...new Set(req.items.map(i => i.contactId))];
	const contacts = await ContactModel.find(
		{ _id: { $in: contactIds }, merchantId },
		{ accountId: 1, twitterUserId: 1, optedOut: 1, optedIn: 1, lastInboundAt: 1, conversationCount: 1 }
	).lean();
	const contactById = new Map(contacts.map(c => [c._id as string, c]));
	const accountIds = [...new Set(contacts.map(c => c.accountId))];
	const accounts = accountIds.length ? await AccountModel.find({ _id: { $in: accountIds }, merchantId }, { status: 1 }).lean() : [];
	const activeAccounts = new Set(accounts.filter(a => a.status === "active").map(a => a._id as string));
	let items = req.items.filter(item => {
		const contact = contactById.get(item.contactId) ?? null;
		const reason = automatedSendSkipReason(kind, { accountActive: Boolean(contact && activeAccounts.has(contact.accountId)), contact });
		if (reason) outcomes.set(item.key, { key: item.key, status: "skipped", reason });
		return !reason;
	});

	// 2. Idempotency-Keys, claimed by unique inserts; the message id follows from the key, so a
	//    repeat finds the first send's message without a write linking the two.
	const messageIdOf = new Map(
		items.map(i => [i.key, i.idempotencyKey ? uuidFromName(`message:${claimIdOf(req, i.idempotencyKey)}`) : randomUUID()])
	);
	const keyed = items.filter(i => i.idempotencyKey);
	const claims = keyed.map(i => ({ _id: claimIdOf(req, i.idempotencyKey!), merchantId, resultId: messageIdOf.get(i.key), createdAt: now }));
	const repeated = await insertAll(IdempotencyKeyModel, claims);
	if (repeated.size) {
		const repeats = keyed.filter((_, i) => repeated.has(i));
		const earlier = await MessageModel.find({ _id: { $in: repeats.map(i => messageIdOf.get(i.key)!) } }).lean();
		const byId = new Map(earlier.map(m => [m._id as string, m]));
		for (const item of repeats) outcomes.set(item.key, earlierOutcome(item.key, byId.get(messageIdOf.get(item.key)!) as never));
		items = items.filter(i => !outcomes.has(i.key));
	}
	const ownClaims = new Map(keyed.filter((_, i) => !repeated.has(i)).map(i => [i.key, claimIdOf(req, i.idempotencyKey!)]));

	// 3. The open conversation of each contact: read, then the missing ones opened by unique
	//    insert of openKey (a duplicate: another sender opened it meanwhile, read again). Read
	//    by key (lib/lookups.ts: `$in` reads the whole collection on FerretDB on PostgreSQL), and
	//    only for contacts that had a conversation: one with none counted most likely has no
	//    open one, so its claim is tried at once (the insert is what decides, either way).
	const conversationOf = new Map<string, { _id: string; created: boolean }>();
	if (req.conversation) {
		for (const item of items) conversationOf.set(item.contactId, { _id: req.conversation._id, created: false });
	} else if (items.length) {
		const wanted = [...new Set(items.map(i => i.contactId))];
		const hadOne = wanted.filter(id => (contactById.get(id)?.conversationCount ?? 0) > 0);
		const open = await findIn<Pick<Conversation, "_id" | "contactId">>(
			ConversationModel,
			{},
			"openKey",
			hadOne.map(id => `open:${id}`),
			{ contactId: 1 }
		);
		for (const c of open) conversationOf.set(c.contactId, { _id: c._id, created: false });
		const missing = wanted.filter(id => !conversationOf.has(id));
		const rows = missing.map(contactId => ({
			...new ConversationModel({
				merchantId,
				accountId: contactById.get(contactId)!.accountId,
				contactId,
				openKey: `open:${contactId}`,
				startedAt: now,
			}).toObject({ transform: false }),
			...conversationActivityFields(now),
			createdAt: now,
			updatedAt: now,
		}));
		// listed from the start (lib/activity-buckets.ts): its day marked, its keys set
		if (rows.length) await markActivityDays(ConversationActivityDayModel, merchantId, [now]);
		const taken = await insertAll(ConversationModel, rows);
		rows.forEach((row, i) => !taken.has(i) && conversationOf.set(row.contactId, { _id: row._id as string, created: true }));
		if (taken.size) {
			const winners = await findIn<Pick<Conversation, "_id" | "contactId">>(
				ConversationModel,
				{},
				"openKey",
				rows.filter((_, i) => taken.has(i)).map(r => r.openKey),
				{ contactId: 1 }
			);
			for (const c of winners) conversationOf.set(c.contactId, { _id: c._id, created: false });
		}
	}

	// 4. The messages, built here and stored once X answered (step 6): one insert of final rows,
	//    no pending row updated afterwards. On FerretDB an insert of a batch is one transaction
	//    while an update is one per document (~10 ms each on PostgreSQL: docs/sending.md).
	const messages = items.map(item => {
		const contact = contactById.get(item.contactId)!;
		return {
			...new MessageModel({
				_id: messageIdOf.get(item.key),
				merchantId,
				accountId: contact.accountId,
				conversationId: conversationOf.get(item.contactId)!._id,
				contactId: item.contactId,
				direction: "outbound",
				type: item.imageUrl ? "image" : (item.type ?? "text"),
				content: item.content,
				attachments: item.imageUrl ? [{ type: "image", url: item.imageUrl }] : [],
				isFromBot: kind === "bot",
				status: "pending",
				sentByUserId: req.sentByUserId ?? null,
				origin: req.origin,
			}).toObject({ transform: false }),
			createdAt: now,
			updatedAt: now,
		};
	});

	// 5. X, through the x service: one call per account.
	const byAccount = new Map<string, typeof messages>();
	for (const m of messages) byAccount.set(m.accountId, [...(byAccount.get(m.accountId) ?? []), m]);
	const results = new Map<string, DmResult>();
	await Promise.all(
		[...byAccount].map(async ([accountId, group]) => {
			const dms = group.map(m => ({
				ref: m._id as string,
				recipientTwitterUserId: contactById.get(m.contactId)!.twitterUserId,
				text: m.content,
				...(m.attachments[0]?.url ? { mediaUrl: m.attachments[0].url } : {}),
			}));
			try {
				const res = await callFor(
					ctx,
					merchantId,
					"x.sendDirectMessages",
					{ accountId, kind, messages: dms },
					{ timeout: X_CALL_TIMEOUT_MS }
				);
				for (const r of res.results) results.set(r.ref, r);
			} catch (err) {
				for (const dm of dms) results.set(dm.ref, thrownResult(dm.ref, err));
			}
		})
	);

	// 6. Outcomes: one insert of the messages X answered; what was not sent leaves nothing behind.
	const rows: object[] = [];
	const released: string[] = [];
	const sent: SentActivity[] = [];
	for (const [i, item] of items.entries()) {
		const m = messages[i];
		const r = results.get(m._id as string)!;
		const conversation = conversationOf.get(item.contactId)!;
		if (r.outcome === "sent") {
			const sentAt = new Date(r.sentAt);
			rows.push({ ...m, status: "sent", twitterMessageId: r.twitterMessageId, sentAt });
			outcomes.set(item.key, {
				key: item.key,
				status: "sent",
				messageId: m._id as string,
				conversationId: conversation._id,
				twitterMessageId: r.twitterMessageId,
				sentAt: r.sentAt,
			});
			sent.push({
				messageId: m._id as string,
				merchantId,
				accountId: m.accountId,
				conversationId: conversation._id,
				contactId: item.contactId,
				sentAt,
				kind,
				twitterMessageId: r.twitterMessageId,
				createdConversation: conversation.created,
			});
		} else if (r.outcome === "rejected" || r.outcome === "unknown") {
			const status = r.outcome === "unknown" ? "unknown" : "failed";
			rows.push({ ...m, status, failureReason: r.reason });
			outcomes.set(item.key, { key: item.key, status, messageId: m._id as string, conversationId: conversation._id, reason: r.reason });
		} else {
			const claim = ownClaims.get(item.key);
			if (claim) released.push(claim);
			outcomes.set(item.key, heldOf(item.key, r));
		}
	}
	if (rows.length) await MessageModel.collection.insertMany(rows as never[], { ordered: false });
	if (released.length) await IdempotencyKeyModel.deleteMany({ _id: { $in: released } });
	// X's echo of a DM that won the race (stored as an X-app message) is the account writer's to
	// drop: it counted the echo, so it must not count the send as well.
	if (sent.length) await recordSent(ctx, sent);

	for (const [i, item] of items.entries()) {
		const o = outcomes.get(item.key)!;
		const m = messages[i];
		if (o.status === "sent") {
			ctx.emit("message.sent", {
				merchantId,
				accountId: m.accountId,
				contactId: item.contactId,
				conversationId: o.conversationId,
				messageId: o.messageId,
				origin: req.origin,
				at: o.sentAt,
			});
		} else if (o.status === "failed" || o.status === "unknown") {
			ctx.emit("message.failed", {
				merchantId,
				conversationId: o.conversationId,
				messageId: o.messageId,
				reason: o.reason,
				origin: req.origin,
			});
		}
	}
	return req.items.map(i => outcomes.get(i.key)!);
}
