import type { Context, Logger } from "moleculer";
import { config } from "../../lib/config.ts";
import { CampaignModel, type Campaign } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel, type CampaignDelivery } from "../../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";
import { CampaignLinkModel } from "../../models/campaign-link.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import type { RenderableTemplate } from "../templates/render.ts";
import { composeMessage } from "../inbox/compose.ts";
import type { SendOutcome } from "../inbox/pipeline.ts";
import { rewriteLinks, trackingToken } from "./links.ts";
import { clock } from "./clock.ts";
import { onlyDuplicates } from "./audience.ts";
import { callFor } from "../../lib/calls.ts";
import { bulkWriteInChunks } from "../../lib/bulk-updates.ts";

// Sending a running campaign, a batch at a time, on whichever worker nodes run the job.
//
// At most once: before the call to X, a batch's sends are claimed by inserting their claim rows
// (unique _id "<campaignId>:<contactId>", one insertMany): of any number of workers exactly one
// gets each. The batch goes through the inbox's send pipeline in one call (inbox.sendBatch),
// and the deliveries' outcomes are written in one bulk write (pending → sending → sent | failed |
// skipped | unknown) while the next batch is claimed and sent; it is awaited before the batch
// after and before a run answers, so whoever reads the figures after a run sees them all. A claim whose worker died never gets an outcome; after
// CAMPAIGN_UNKNOWN_AFTER_SECONDS its delivery becomes `unknown` (the DM may have gone out: it is
// counted and shown, never sent again). What was not sent (a 429, X out or unreachable) goes
// back to pending with its claim removed, and the account waits: until the limit frees up, or,
// while X is out, with a backoff that doubles at each failure in a row; at schedule.endAt what
// is left expires. Recipients are never failed because X is out.

export interface RunnerEnv {
	ctx: Context;
	logger: Logger;
	nodeID: string;
	/** True once this node is shutting down: finish the send in flight, take no more. */
	stopping(): boolean;
}

type Outcome = "sent" | "failed" | "skipped" | "unknown" | "held" | "busy" | "gone";
export type Tally = Record<Outcome, number>;

export interface RunResult {
	/** done: every delivery is final; waiting: more to do at nextAt; stopped: paused, cancelled, or this node stops. */
	state: "done" | "waiting" | "stopped";
	nextAt: Date | null;
	tally: Tally;
}

/** `outages`: X failed this many times in a row for the account (its backoff grows with it). */
type Hold = { accountId: string; until: Date; outages?: number };
type LeanCampaign = Campaign & { _id: string };
type LeanDelivery = CampaignDelivery & { _id: string };

/** Limits shared by every account: when one of them is full, no account may send. */
const SHARED_LIMITS = new Set(["x_app_daily", "merchant_share_daily", "x_app_24hour"]);
const ALL_ACCOUNTS = "*";
/** Rows changed by one statement when ending what is left of a campaign. */
const PAGE = 500;
/** How often a running campaign's heartbeatAt is refreshed (the sweeper calls a chain stalled after 2 minutes). */
const HEARTBEAT_MS = 15_000;
/** When every candidate was claimed by another worker, look again this much later. */
const BUSY_RETRY_MS = 2000;
/** The longest wait between two tries while X is out. */
const OUTAGE_MAX_BACKOFF_MS = 15 * 60_000;

const emptyTally = (): Tally => ({ sent: 0, failed: 0, skipped: 0, unknown: 0, held: 0, busy: 0, gone: 0 });
const unknownAfterMs = () => config().campaigns.unknownAfterSeconds * 1000;

export function activeHolds(holds: Hold[] | null | undefined, now: Date): Map<string, Date> {
	const active = new Map<string, Date>();
	for (const h of holds ?? []) {
		const until = new Date(h.until);
		if (until > now && (!active.has(h.accountId) || active.get(h.accountId)! < until)) active.set(h.accountId, until);
	}
	return active;
}

/**
 * The campaign's holds after a batch: the active ones and the new ones (the latest per account),
 * and an outage's count kept after it ends (the next outage backs off longer) until the account
 * sends again.
 */
export function mergeHolds(previous: Hold[] | null | undefined, added: Hold[], sentAccounts: Set<string>, now: Date): Hold[] {
	const byAccount = new Map<string, Hold>();
	for (const h of [...(previous ?? []), ...added]) {
		const until = new Date(h.until);
		const keep = until > now || (h.outages && !sentAccounts.has(h.accountId));
		if (!keep) continue;
		const before = byAccount.get(h.accountId);
		if (!before || new Date(before.until) <= until)
			byAccount.set(h.accountId, { accountId: h.accountId, until, ...(h.outages ? { outages: h.outages } : {}) });
	}
	return [...byAccount.values()];
}

const capAtEnd = (at: Date, c: LeanCampaign) => (c.schedule?.endAt && new Date(c.schedule.endAt) < at ? new Date(c.schedule.endAt) : at);

/** Deliveries claimed longer ago than the limit and still without an outcome become `unknown`. */
export async function settleStale(campaignId: string, now: Date): Promise<number> {
	const res = await CampaignDeliveryModel.updateMany(
		{ campaignId, status: "sending", claimedAt: { $lt: new Date(now.getTime() - unknownAfterMs()) } },
		{ $set: { status: "unknown", reason: "outcome_lost: the worker sending it stopped before X answered", finishedAt: now } }
	);
	return res.modifiedCount ?? 0;
}

/**
 * Ends every `pending` delivery of a campaign with `status` and `reason`, a page of ids at a time:
 * one statement per page whatever the campaign's size (FerretDB's SQLite turns a write over
 * many documents into one statement with a variable per row, and refuses past its limit).
 */
export async function endPending(campaignId: string, status: "expired" | "cancelled", reason: string, now: Date): Promise<number> {
	let total = 0;
	for (;;) {
		const ids = (await CampaignDeliveryModel.find({ campaignId, status: "pending" }, { _id: 1 }).limit(PAGE).lean()).map(r => r._id);
		if (!ids.length) return total;
		const res = await CampaignDeliveryModel.updateMany(
			{ _id: { $in: ids }, status: "pending" },
			{ $set: { status, reason, finishedAt: now } }
		);
		total += res.modifiedCount ?? 0;
		if (!res.modifiedCount) return total; // another worker ended them meanwhile
	}
}

/** What is still unsent at schedule.endAt will not be sent. */
export function expirePending(campaignId: string, now: Date): Promise<number> {
	return endPending(campaignId, "expired", "end_at_reached", now);
}

export async function openCount(campaignId: string): Promise<number> {
	return CampaignDeliveryModel.countDocuments({ campaignId, status: { $in: ["pending", "sending"] } });
}

type Sendable = { d: LeanDelivery; text: string; mediaUrl: string | null };

/**
 * Sends a batch of pending deliveries; see the header for the states they go through. Its cost
 * does not grow per DM: one insert of the claims, one update to `sending`, one read of the
 * contacts, one insert of tracked links, one call of the inbox's batch pipeline, one write of
 * the outcomes (and, only when something was not sent, one delete of its claims).
 */
async function sendBatchOf(
	env: RunnerEnv,
	c: LeanCampaign,
	batch: LeanDelivery[]
): Promise<{ tally: Tally; holds: Hold[]; sentAccounts: Set<string>; written: Promise<void> }> {
	const tally = emptyTally();
	const holds: Hold[] = [];
	const sentAccounts = new Set<string>();
	const written = Promise.resolve();
	const now = clock.now();
	const claims = batch.map(d => ({
		_id: d._id,
		merchantId: c.merchantId,
		campaignId: c._id,
		contactId: d.contactId,
		nodeID: env.nodeID,
		claimedAt: now,
	}));
	let taken = new Set<number>();
	try {
		await CampaignSendClaimModel.collection.insertMany(claims as never[], { ordered: false });
	} catch (err) {
		if (!onlyDuplicates(err)) throw err;
		const e = err as { writeErrors?: { index: number }[] | { index: number } };
		taken = new Set((Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : []).map(w => w.index));
	}
	if (taken.size) {
		// Claimed by another worker: in flight, or its worker died between the claim and the
		// delivery's update (then, once old enough, its outcome is unknown).
		const ids = batch.filter((_, i) => taken.has(i)).map(d => d._id);
		const stale = await CampaignSendClaimModel.find(
			{ _id: { $in: ids }, claimedAt: { $lt: new Date(now.getTime() - unknownAfterMs()) } },
			{ _id: 1 }
		).lean();
		if (stale.length) {
			await CampaignDeliveryModel.updateMany(
				{ _id: { $in: stale.map(s => s._id) }, status: { $in: ["pending", "sending"] } },
				{ $set: { status: "unknown", reason: "outcome_lost: claimed without an outcome", finishedAt: now } }
			);
		}
		tally.unknown += stale.length;
		tally.busy += ids.length - stale.length;
	}
	let mine = batch.filter((_, i) => !taken.has(i));
	if (!mine.length) return { tally, holds, sentAccounts, written };

	const marked = await CampaignDeliveryModel.updateMany(
		{ _id: { $in: mine.map(d => d._id) }, status: "pending" },
		{ $set: { status: "sending", claimedAt: now } }
	);
	if ((marked.matchedCount ?? 0) < mine.length) {
		// Cancelled, expired or erased meanwhile: nothing was sent to those, so their claims go.
		const still = new Set(
			(await CampaignDeliveryModel.find({ _id: { $in: mine.map(d => d._id) }, status: "sending", claimedAt: now }, { _id: 1 }).lean()).map(
				d => d._id
			)
		);
		const gone = mine.filter(d => !still.has(d._id));
		await CampaignSendClaimModel.deleteMany({ _id: { $in: gone.map(d => d._id) } });
		tally.gone += gone.length;
		mine = mine.filter(d => still.has(d._id));
		if (!mine.length) return { tally, holds, sentAccounts, written };
	}

	const finals: object[] = [];
	const finish = (id: string, status: "sent" | "failed" | "skipped" | "unknown", fields: Record<string, unknown>, at: Date) => {
		finals.push({ updateOne: { filter: { _id: id }, update: { $set: { status, finishedAt: at, ...fields } } } });
		tally[status]++;
	};
	const contacts = await ContactModel.find(
		{ _id: { $in: mine.map(d => d.contactId) }, merchantId: c.merchantId },
		{ username: 1, displayName: 1, attributes: 1 }
	).lean();
	const contactById = new Map(contacts.map(p => [p._id as string, p]));
	const key = config().encryptionKey;
	const base = config().publicBaseUrl;
	const links: object[] = [];
	const sendable: Sendable[] = [];
	for (const d of mine) {
		const contact = contactById.get(d.contactId);
		if (!contact) {
			finish(d._id, "skipped", { reason: "contact_missing" }, now);
			continue;
		}
		let tracked: ReturnType<typeof rewriteLinks> | null = null;
		const composed = composeMessage(c.template as RenderableTemplate, contact, (c.variables as Record<string, unknown>) ?? {}, text => {
			tracked = rewriteLinks(text, base, (url, i) => trackingToken(key, d._id, i, url));
			return tracked.text;
		});
		if (!composed.ok) {
			finish(d._id, "failed", { reason: composed.reason }, now);
			continue;
		}
		for (const l of (tracked as ReturnType<typeof rewriteLinks> | null)?.links ?? []) {
			links.push({
				_id: l.token,
				merchantId: c.merchantId,
				campaignId: c._id,
				contactId: d.contactId,
				deliveryId: d._id,
				url: l.url,
				createdAt: now,
			});
		}
		sendable.push({ d, text: composed.text, mediaUrl: composed.mediaUrl });
	}
	if (links.length) {
		await CampaignLinkModel.collection.insertMany(links as never[], { ordered: false }).catch((err: unknown) => {
			if (!onlyDuplicates(err)) throw err;
		});
	}

	const release: string[] = [];
	if (sendable.length) {
		let results: SendOutcome[];
		try {
			const res = await callFor(
				env.ctx,
				c.merchantId,
				"inbox.sendBatch",
				{
					origin: `campaign:${c._id}`,
					items: sendable.map(s => ({
						key: s.d._id,
						contactId: s.d.contactId,
						content: s.text,
						...(s.mediaUrl ? { imageUrl: s.mediaUrl } : {}),
					})),
				},
				{ timeout: 15 * 60_000 }
			);
			results = res.results;
		} catch (err) {
			// A timeout or a lost node: the DMs may or may not have gone out.
			const e = err as { message?: string };
			env.logger.warn(`campaign ${c._id}: outcome of a batch of ${sendable.length} sends is unknown: ${e.message}`);
			results = sendable.map(s => ({
				key: s.d._id,
				status: "unknown",
				messageId: null,
				conversationId: null,
				reason: `outcome_unknown: ${e.message ?? "error"}`,
			}));
		}
		const at = clock.now();
		for (const [i, r] of results.entries()) {
			const d = sendable[i].d;
			if (r.status === "sent") {
				finish(
					d._id,
					"sent",
					{ messageId: r.messageId, conversationId: r.conversationId, twitterMessageId: r.twitterMessageId, sentAt: at, reason: null },
					at
				);
				sentAccounts.add(d.accountId);
			} else if (r.status === "failed" || r.status === "unknown") {
				const reason = r.status === "unknown" ? `x_delivery_unknown: ${r.reason}` : r.reason;
				finish(d._id, r.status, { messageId: r.messageId, conversationId: r.conversationId, reason }, at);
			} else if (r.status === "skipped") {
				finish(d._id, "skipped", { reason: r.reason }, at);
			} else {
				// held (nothing went out) or in_progress (cannot be: campaigns send without keys):
				// the recipient waits, claim released.
				release.push(d._id);
				finals.push({ updateOne: { filter: { _id: d._id, status: "sending" }, update: { $set: { status: "pending", claimedAt: null } } } });
				tally.held++;
				if (r.status === "held") holds.push(holdFor(c, d.accountId, r, at));
			}
		}
	}
	// The outcomes are written while the caller goes on with the next batch (runCampaign awaits
	// this before the batch after, and before it answers): the rows are `sending` meanwhile, so no
	// other batch takes them. Released claims go first, so a row pending again has no claim left
	// (a worker dying in between leaves a `sending` row without a claim: unknown after the limit,
	// as a claimed pending row would be).
	const outcomes = (async () => {
		if (release.length) await CampaignSendClaimModel.deleteMany({ _id: { $in: release } });
		await bulkWriteInChunks(CampaignDeliveryModel, finals);
	})();
	return { tally, holds, sentAccounts, written: outcomes };
}

/** Until when an account (or every account, for a shared limit) waits after a send that did not go. */
function holdFor(c: LeanCampaign, accountId: string, r: Extract<SendOutcome, { status: "held" }>, at: Date): Hold {
	if (r.cause === "rate_limited") {
		const shared = r.limits.some(l => SHARED_LIMITS.has(l));
		return { accountId: shared ? ALL_ACCOUNTS : accountId, until: new Date(at.getTime() + Math.max(1, r.retryAfter) * 1000) };
	}
	// X is out or unreachable: back off, doubling from the pipeline's first retry up to a cap.
	const previous = (c.holds as Hold[] | undefined)?.find(h => h.accountId === accountId)?.outages ?? 0;
	const outages = previous + 1;
	const delayMs = Math.min(OUTAGE_MAX_BACKOFF_MS, Math.max(1, r.retryAfter) * 1000 * 2 ** (outages - 1));
	return { accountId, until: new Date(at.getTime() + delayMs), outages };
}

/**
 * Runs batches of a running campaign until `budgetMs` (wall clock) is spent, the campaign is
 * done, every remaining recipient waits for a limit, or the campaign stops being `running`.
 */
export async function runCampaign(env: RunnerEnv, campaignId: string, budgetMs: number): Promise<RunResult> {
	// The previous batch's outcomes, still being written while the next batch is claimed and sent.
	let writing: Promise<void> | null = null;
	const settle = async () => {
		const w = writing;
		writing = null;
		if (w) await w;
	};
	try {
		return await runBatches(env, campaignId, budgetMs, {
			settle,
			overlap(next: Promise<void>) {
				next.catch(() => {}); // awaited (and thrown) by settle()
				writing = next;
			},
		});
	} finally {
		await settle();
	}
}

async function runBatches(
	env: RunnerEnv,
	campaignId: string,
	budgetMs: number,
	writes: { settle(): Promise<void>; overlap(next: Promise<void>): void }
): Promise<RunResult> {
	const deadline = Date.now() + budgetMs;
	const tally = emptyTally();
	const batchSize = config().campaigns.batchSize;
	let settled = false;
	for (;;) {
		const c = await CampaignModel.findById(campaignId).lean<LeanCampaign>();
		if (!c || c.status !== "running" || env.stopping()) return { state: "stopped", nextAt: null, tally };
		const now = clock.now();
		// For the sweeper, which restarts a chain silent for minutes: not a write per batch.
		if (!c.heartbeatAt || now.getTime() - new Date(c.heartbeatAt).getTime() >= HEARTBEAT_MS)
			await CampaignModel.updateOne({ _id: c._id }, { $set: { heartbeatAt: now } });
		if (!settled) {
			settled = true;
			const lost = await settleStale(c._id, now);
			if (lost) env.logger.warn(`campaign ${c._id}: ${lost} deliveries claimed by a stopped worker are now unknown`);
		}
		if (c.schedule?.endAt && now >= new Date(c.schedule.endAt)) {
			const expired = await expirePending(c._id, now);
			if (expired) env.logger.info(`campaign ${c._id}: schedule.endAt reached, ${expired} unsent deliveries expired`);
		}

		const holds = activeHolds(c.holds as Hold[], now);
		if (holds.has(ALL_ACCOUNTS)) return { state: "waiting", nextAt: capAtEnd(holds.get(ALL_ACCOUNTS)!, c), tally };
		const held = [...holds.keys()];
		const batch = await CampaignDeliveryModel.find({
			campaignId: c._id,
			status: "pending",
			...(held.length ? { accountId: { $nin: held } } : {}),
		})
			.limit(batchSize)
			.lean<LeanDelivery[]>();

		if (!batch.length) {
			// The last batch's outcomes first: its rows are `sending` (or held ones pending again) until then.
			await writes.settle();
			const open = await CampaignDeliveryModel.find(
				{ campaignId: c._id, status: { $in: ["pending", "sending"] } },
				{ status: 1, accountId: 1, claimedAt: 1 }
			)
				.limit(500)
				.lean<LeanDelivery[]>();
			if (!open.length) return { state: "done", nextAt: null, tally };
			// Waiting for a held account, or for a send in flight elsewhere (or lost with its worker).
			const times = open.map(d =>
				d.status === "pending"
					? (holds.get(d.accountId)?.getTime() ?? now.getTime())
					: new Date(d.claimedAt ?? now).getTime() + unknownAfterMs() + 1000
			);
			return { state: "waiting", nextAt: capAtEnd(new Date(Math.max(now.getTime(), Math.min(...times))), c), tally };
		}

		const { tally: batchTally, holds: newHolds, sentAccounts, written } = await sendBatchOf(env, c, batch);
		await writes.settle();
		writes.overlap(written);
		for (const k of Object.keys(tally) as Outcome[]) tally[k] += batchTally[k];
		const done = batchTally.sent + batchTally.failed + batchTally.skipped + batchTally.unknown;
		env.logger.info(
			`campaign ${c._id} batch of ${batch.length}: sent ${batchTally.sent}, failed ${batchTally.failed}, skipped ${batchTally.skipped}, unknown ${batchTally.unknown}` +
				(batchTally.held ? `, held (nothing sent) ${batchTally.held}` : "") +
				(batchTally.busy ? `, claimed elsewhere ${batchTally.busy}` : "")
		);
		const remembered = ((c.holds as Hold[]) ?? []).filter(h => h.outages && !sentAccounts.has(h.accountId));
		if (newHolds.length || remembered.length !== ((c.holds as Hold[]) ?? []).filter(h => h.outages).length) {
			await CampaignModel.updateOne(
				{ _id: c._id },
				{ $set: { holds: mergeHolds(c.holds as Hold[], newHolds, sentAccounts, clock.now()) } }
			);
			for (const h of newHolds) {
				const why = h.outages ? `X unavailable (${h.outages} in a row)` : "send limit reached";
				env.logger.info(
					`campaign ${c._id}: ${why} for ${h.accountId === ALL_ACCOUNTS ? "every account" : `account ${h.accountId}`}, continuing at ${h.until.toISOString()}`
				);
			}
		}
		const interrupted = env.stopping();
		if (interrupted) return { state: "stopped", nextAt: null, tally };
		if (done + batchTally.gone === 0 && batchTally.held === 0)
			return { state: "waiting", nextAt: new Date(clock.now().getTime() + BUSY_RETRY_MS), tally };
		if (Date.now() >= deadline) return { state: "waiting", nextAt: clock.now(), tally };
	}
}
