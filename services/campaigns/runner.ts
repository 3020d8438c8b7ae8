import type { Context, Logger } from "moleculer";
import { config } from "../../lib/config.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { CampaignModel, type Campaign } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel, type CampaignDelivery } from "../../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";
import { CampaignLinkModel } from "../../models/campaign-link.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { MAX_RENDERED_LENGTH, renderTemplate, type RenderableTemplate } from "../templates/render.ts";
import { rewriteLinks, trackingToken } from "./links.ts";
import { clock } from "./clock.ts";
import { onlyDuplicates } from "./audience.ts";

// Sending a running campaign, a small batch at a time, on whichever worker nodes run the job.
//
// At most once: before the call to X, a send is claimed by inserting its claim row (unique
// _id "<campaignId>:<contactId>"): of any number of workers exactly one gets it. The delivery
// then goes pending → sending → sent | failed | skipped. A claim whose worker died never gets an
// outcome; after CAMPAIGN_UNKNOWN_AFTER_SECONDS its delivery becomes `unknown` (the DM may have
// gone out: it is counted and shown, never sent again). A 429 sent nothing: the claim is
// removed and the account's sending waits until the limit frees up (or schedule.endAt).

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

type Hold = { accountId: string; until: Date };
type LeanCampaign = Campaign & { _id: string };
type LeanDelivery = CampaignDelivery & { _id: string };

/** Limits shared by every account: when one of them is full, no account may send. */
const SHARED_LIMITS = new Set(["x_app_daily", "merchant_share_daily", "x_app_24hour"]);
const ALL_ACCOUNTS = "*";
/** Rows changed by one statement when ending what is left of a campaign. */
const PAGE = 500;
/** When every candidate was claimed by another worker, look again this much later. */
const BUSY_RETRY_MS = 2000;

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

const capAtEnd = (at: Date, c: LeanCampaign) => (c.schedule?.endAt && new Date(c.schedule.endAt) < at ? new Date(c.schedule.endAt) : at);

async function finish(id: string, status: "sent" | "failed" | "skipped" | "unknown", fields: Record<string, unknown>, now: Date): Promise<void> {
	await CampaignDeliveryModel.updateOne({ _id: id }, { $set: { status, finishedAt: now, ...fields } });
}

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
		const res = await CampaignDeliveryModel.updateMany({ _id: { $in: ids }, status: "pending" }, { $set: { status, reason, finishedAt: now } });
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

/** Sends one delivery; see the header for the states it goes through. */
async function sendOne(env: RunnerEnv, c: LeanCampaign, d: LeanDelivery): Promise<{ outcome: Outcome; hold?: Hold }> {
	const now = clock.now();
	const id = d._id;
	try {
		await CampaignSendClaimModel.create({ _id: id, merchantId: c.merchantId, campaignId: c._id, contactId: d.contactId, nodeID: env.nodeID, claimedAt: now });
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		// Claimed by another worker: in flight, or its worker died between the claim and the
		// delivery's update (then, once old enough, its outcome is unknown).
		const claim = await CampaignSendClaimModel.findById(id).lean();
		if (claim && now.getTime() - new Date(claim.claimedAt).getTime() > unknownAfterMs()) {
			await CampaignDeliveryModel.updateOne(
				{ _id: id, status: { $in: ["pending", "sending"] } },
				{ $set: { status: "unknown", reason: "outcome_lost: claimed without an outcome", finishedAt: now } }
			);
			return { outcome: "unknown" };
		}
		return { outcome: "busy" };
	}
	const marked = await CampaignDeliveryModel.updateOne({ _id: id, status: "pending" }, { $set: { status: "sending", claimedAt: now } });
	if (marked.matchedCount === 0) {
		// Cancelled, expired or erased meanwhile: nothing was sent, so the claim goes.
		await CampaignSendClaimModel.deleteOne({ _id: id });
		return { outcome: "gone" };
	}

	const contact = await ContactModel.findById(d.contactId, { merchantId: 1, username: 1, displayName: 1, attributes: 1 }).lean();
	if (!contact || contact.merchantId !== c.merchantId) {
		await finish(id, "skipped", { reason: "contact_missing" }, now);
		return { outcome: "skipped" };
	}
	const rendered = renderTemplate(c.template as RenderableTemplate, { contact, variables: (c.variables as Record<string, unknown>) ?? {} });
	if (rendered.missing.length) {
		await finish(id, "failed", { reason: `missing_variables: ${rendered.missing.join(", ")}` }, now);
		return { outcome: "failed" };
	}
	const key = config().encryptionKey;
	const tracked = rewriteLinks(rendered.text, config().publicBaseUrl, (url, i) => trackingToken(key, id, i, url));
	if (!tracked.text.trim()) {
		await finish(id, "failed", { reason: "empty_message" }, now);
		return { outcome: "failed" };
	}
	if (tracked.text.length > MAX_RENDERED_LENGTH) {
		await finish(id, "failed", { reason: `message_too_long: ${tracked.text.length} characters` }, now);
		return { outcome: "failed" };
	}
	if (tracked.links.length) {
		const rows = tracked.links.map(l => ({ _id: l.token, merchantId: c.merchantId, campaignId: c._id, contactId: d.contactId, deliveryId: id, url: l.url, createdAt: now }));
		await CampaignLinkModel.collection.insertMany(rows as never[], { ordered: false }).catch((err: unknown) => {
			if (!onlyDuplicates(err)) throw err;
		});
	}

	try {
		const res = (await env.ctx.call(
			"inbox.sendToContact",
			{
				merchantId: c.merchantId,
				contactId: d.contactId,
				content: tracked.text,
				origin: `campaign:${c._id}`,
				...(rendered.mediaUrl ? { imageUrl: rendered.mediaUrl } : {}),
				idempotencyKey: `campaign:${c._id}:${d.contactId}`,
			},
			{ timeout: 120_000, meta: { merchantId: c.merchantId } }
		)) as { status: string; reason?: string; messageId?: string; conversationId?: string; twitterMessageId?: string | null; failureReason?: string | null };
		const at = clock.now();
		if (res.status === "sent") {
			await finish(id, "sent", { messageId: res.messageId, conversationId: res.conversationId, twitterMessageId: res.twitterMessageId ?? null, sentAt: at, reason: null }, at);
			return { outcome: "sent" };
		}
		if (res.status === "failed") {
			await finish(id, "failed", { messageId: res.messageId ?? null, conversationId: res.conversationId ?? null, reason: res.failureReason ?? "send failed" }, at);
			return { outcome: "failed" };
		}
		await finish(id, "skipped", { reason: res.reason ?? "not_eligible" }, at);
		return { outcome: "skipped" };
	} catch (err) {
		const e = err as { code?: number; type?: string; message?: string; data?: { retryAfter?: number; retryAt?: string; limits?: string[] } };
		const at = clock.now();
		if (e.code === 429) {
			// Nothing went out: the recipient waits for the limit, claim released.
			await CampaignDeliveryModel.updateOne({ _id: id, status: "sending" }, { $set: { status: "pending", claimedAt: null } });
			await CampaignSendClaimModel.deleteOne({ _id: id });
			const until = new Date(at.getTime() + Math.max(1, e.data?.retryAfter ?? 60) * 1000);
			const shared = (e.data?.limits ?? []).some(l => SHARED_LIMITS.has(l));
			return { outcome: "held", hold: { accountId: shared ? ALL_ACCOUNTS : d.accountId, until } };
		}
		if (e.type === "X_DELIVERY_UNKNOWN") {
			await finish(id, "unknown", { reason: `x_delivery_unknown: ${e.message ?? ""}` }, at);
			return { outcome: "unknown" };
		}
		if (typeof e.code === "number" && e.code >= 400 && e.code < 500) {
			await finish(id, "failed", { reason: `${e.type ?? "ERROR"}: ${e.message ?? ""}` }, at);
			return { outcome: "failed" };
		}
		// A timeout or a lost node: the DM may or may not have gone out.
		env.logger.warn(`campaign ${c._id}: outcome of the send to ${d.contactId} is unknown: ${e.message}`);
		await finish(id, "unknown", { reason: `outcome_unknown: ${e.message ?? "error"}` }, at);
		return { outcome: "unknown" };
	}
}

/**
 * Runs batches of a running campaign until `budgetMs` (wall clock) is spent, the campaign is
 * done, every remaining recipient waits for a limit, or the campaign stops being `running`.
 */
export async function runCampaign(env: RunnerEnv, campaignId: string, budgetMs: number): Promise<RunResult> {
	const deadline = Date.now() + budgetMs;
	const tally = emptyTally();
	const batchSize = config().campaigns.batchSize;
	let settled = false;
	for (;;) {
		const c = await CampaignModel.findById(campaignId).lean<LeanCampaign>();
		if (!c || c.status !== "running" || env.stopping()) return { state: "stopped", nextAt: null, tally };
		const now = clock.now();
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
		const batch = await CampaignDeliveryModel.find({ campaignId: c._id, status: "pending", ...(held.length ? { accountId: { $nin: held } } : {}) })
			.limit(batchSize)
			.lean<LeanDelivery[]>();

		if (!batch.length) {
			const open = await CampaignDeliveryModel.find({ campaignId: c._id, status: { $in: ["pending", "sending"] } }, { status: 1, accountId: 1, claimedAt: 1 })
				.limit(500)
				.lean<LeanDelivery[]>();
			if (!open.length) return { state: "done", nextAt: null, tally };
			// Waiting for a held account, or for a send in flight elsewhere (or lost with its worker).
			const times = open.map(d =>
				d.status === "pending" ? (holds.get(d.accountId)?.getTime() ?? now.getTime()) : new Date(d.claimedAt ?? now).getTime() + unknownAfterMs() + 1000
			);
			return { state: "waiting", nextAt: capAtEnd(new Date(Math.max(now.getTime(), Math.min(...times))), c), tally };
		}

		const batchTally = emptyTally();
		const newHolds: Hold[] = [];
		let interrupted = false;
		for (const d of batch) {
			if (holds.has(d.accountId) || holds.has(ALL_ACCOUNTS)) continue;
			if (env.stopping()) {
				interrupted = true;
				break;
			}
			const fresh = await CampaignModel.findById(c._id, { status: 1 }).lean();
			if (fresh?.status !== "running") {
				interrupted = true;
				break;
			}
			const { outcome, hold } = await sendOne(env, c, d);
			batchTally[outcome]++;
			tally[outcome]++;
			if (hold) {
				newHolds.push(hold);
				holds.set(hold.accountId, hold.until);
			}
		}
		const done = batchTally.sent + batchTally.failed + batchTally.skipped + batchTally.unknown;
		env.logger.info(
			`campaign ${c._id} batch of ${batch.length}: sent ${batchTally.sent}, failed ${batchTally.failed}, skipped ${batchTally.skipped}, unknown ${batchTally.unknown}` +
				(batchTally.held ? `, held by send limits ${batchTally.held}` : "") +
				(batchTally.busy ? `, claimed elsewhere ${batchTally.busy}` : "")
		);
		if (newHolds.length) {
			const merged = [...activeHolds([...((c.holds as Hold[]) ?? []), ...newHolds], clock.now())].map(([accountId, until]) => ({ accountId, until }));
			await CampaignModel.updateOne({ _id: c._id }, { $set: { holds: merged } });
			for (const h of newHolds) env.logger.info(`campaign ${c._id}: send limit reached for ${h.accountId === ALL_ACCOUNTS ? "every account" : `account ${h.accountId}`}, continuing at ${h.until.toISOString()}`);
		}
		if (interrupted) return { state: "stopped", nextAt: null, tally };
		if (done + batchTally.gone === 0 && batchTally.held === 0) return { state: "waiting", nextAt: new Date(clock.now().getTime() + BUSY_RETRY_MS), tally };
		if (Date.now() >= deadline) return { state: "waiting", nextAt: clock.now(), tally };
	}
}
