import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { CampaignModel, type Campaign } from "../../models/campaign.model.ts";
import { CampaignOnceModel } from "../../models/campaign-once.model.ts";
import { AgendaMixin } from "../../mixins/agenda.mixin.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { clock, wallTimeOf } from "./clock.ts";
import { invalidStatus, statusesFor } from "./state.ts";
import { definitionOf, resolveDefinition } from "./definition.ts";
import { snapshotAudience } from "./audience.ts";
import { expirePending, openCount, runCampaign, settleStale, type RunResult, type RunnerEnv } from "./runner.ts";
import { campaignCounts, progressOf } from "./metrics.ts";
import { countDeliveries } from "./present.ts";

// The campaigns service's jobs (a mixin of services/campaigns.service.ts, which owns them):
// - `campaigns.start` at schedule.startAt starts a scheduled campaign;
// - `campaigns.run` is a chain of steps: each runs batches for up to JOB_BUDGET_MS, then
//   schedules the next (now, when a send limit frees up, or at schedule.endAt). A step runs on
//   whichever node's Agenda takes it; a step of a chain that is no longer the campaign's stops;
// - `campaigns.sweep`, every minute, starts what is due, settles sends lost with their node,
//   expires what passed schedule.endAt, completes what has nothing open, and gives a stalled
//   campaign a new chain.
// Each job calls an action (startDue, advance, sweep); the state is in the database only.

const JOB_BUDGET_MS = 10_000;
/** A running campaign without a heartbeat or a due step for this long has lost its chain. */
const STALL_MS = 2 * 60_000;

type Lean = Campaign & { _id: string };

const CampaignRef = Type.Object({ campaignId: Type.String({ minLength: 1 }) });
const StepParams = Type.Object({
	campaignId: Type.String({ minLength: 1 }),
	chain: Type.String({ minLength: 1 }),
	step: Type.Integer({ minimum: 0 }),
});

export const CampaignJobsMixin = {
	mixins: [
		AgendaMixin({
			// A step scheduled for now (a start, the next step of a chain with more to send) runs at
			// once instead of at the next poll (up to a second later).
			runLocalJobsAtOnce: true,
			jobs: {
				"campaigns.start": {
					async handler(job) {
						await this.broker.call("campaigns.startDue", job.attrs.data as object, { timeout: 0 });
					},
				},
				"campaigns.run": {
					concurrency: 10,
					lockLifetimeMs: 30 * 60_000,
					async handler(job) {
						await this.broker.call("campaigns.advance", job.attrs.data as object, { timeout: 0 });
					},
				},
				"campaigns.sweep": {
					every: "1 minute",
					concurrency: 1,
					async handler() {
						await this.broker.call("campaigns.sweep", {}, { timeout: 0 });
					},
				},
			},
		}),
	],

	actions: {
		startDue: {
			visibility: "public",
			params: CampaignRef,
			async handler(ctx: Context<{ campaignId: string }>) {
				const c = await CampaignModel.findById(ctx.params.campaignId).lean<Lean>();
				if (!c || c.status !== "scheduled" || !c.schedule?.startAt) return { started: false };
				// Due later on the campaigns' clock than on the wall clock: ask again then.
				if (new Date(c.schedule.startAt) > clock.now()) {
					await this.scheduleStart(c._id, new Date(c.schedule.startAt));
					return { started: false };
				}
				await this.beginScheduled(ctx, c);
				return { started: true };
			},
		},

		/** One step of a campaign's job chain. */
		advance: {
			visibility: "public",
			params: StepParams,
			async handler(ctx: Context<Static<typeof StepParams>>) {
				const { campaignId, chain, step } = ctx.params;
				const c = await CampaignModel.findById(campaignId).lean<Lean>();
				if (!c || c.status !== "running" || c.chain !== chain) return { state: "stopped" };
				const result = await this.runNow(ctx, c);
				if (result.state === "waiting") await this.scheduleStep(campaignId, chain, step + 1, result.nextAt ?? clock.now());
				// This node is shutting down mid-campaign: the next step goes to whichever node takes it.
				else if (result.state === "stopped" && this.broker.stopping) await this.scheduleStep(campaignId, chain, step + 1, clock.now());
				return result;
			},
		},

		/** Runs batches of a running campaign now, outside its chain (tests, operators). */
		runBatch: {
			visibility: "public",
			params: CampaignRef,
			async handler(ctx: Context<{ campaignId: string }>) {
				const c = await CampaignModel.findById(ctx.params.campaignId).lean<Lean>();
				if (!c || c.status !== "running") return { state: "stopped", status: c?.status ?? null };
				return this.runNow(ctx, c);
			},
		},

		sweep: {
			visibility: "public",
			async handler(ctx: Context) {
				return this.sweep(ctx);
			},
		},
	},

	methods: {
		env(ctx: Context): RunnerEnv {
			return { ctx, logger: this.logger, nodeID: this.broker.nodeID, stopping: () => Boolean(this.broker.stopping) };
		},

		/** draft|scheduled → running: the template and segments are fixed now, the job chain begins. */
		async begin(ctx: Context, c: Lean): Promise<Lean> {
			const now = clock.now();
			const { template, segments } = await resolveDefinition(ctx, c.merchantId, definitionOf(c), now, false);
			const chain = randomUUID();
			const res = await CampaignModel.updateOne(
				{ _id: c._id, status: { $in: statusesFor("start") } },
				{ $set: { status: "running", startedAt: now, chain, template, segments, nextRunAt: now, heartbeatAt: now, holds: [] } }
			);
			if (!res.matchedCount) throw invalidStatus("start", (await CampaignModel.findById(c._id, { status: 1 }).lean())?.status ?? c.status);
			await this.scheduleStep(c._id, chain, 0, now);
			return (await CampaignModel.findById(c._id).lean<Lean>())!;
		},

		/** A scheduled start nobody is waiting on: a definition no longer valid cancels the campaign. */
		async beginScheduled(ctx: Context, c: Lean) {
			try {
				await this.begin(ctx, c);
			} catch (err) {
				const e = err as { code?: number; message?: string; data?: unknown };
				if (e.code === 422) {
					this.logger.warn(`campaign ${c._id} cannot start: ${e.message} ${JSON.stringify(e.data)}`);
					await CampaignModel.updateOne(
						{ _id: c._id, status: "scheduled" },
						{ $set: { status: "cancelled", cancelledAt: clock.now(), cancelReason: `invalid at start: ${JSON.stringify(e.data)}` } }
					);
				} else if (e.code !== 409) throw err;
			}
		},

		async scheduleStart(campaignId: string, startAt: Date) {
			await this.scheduleJob("campaigns.start", wallTimeOf(startAt), { campaignId });
		},

		/** Schedules step `step` of `chain`: once, however many runners of the previous step finish. */
		async scheduleStep(campaignId: string, chain: string, step: number, at: Date) {
			try {
				await CampaignOnceModel.create({ _id: `step:${chain}:${step}`, campaignId });
			} catch (err) {
				if (isDuplicateKey(err)) return;
				throw err;
			}
			const res = await CampaignModel.updateOne({ _id: campaignId, chain, status: "running" }, { $set: { nextRunAt: at } });
			if (res.matchedCount) await this.scheduleJob("campaigns.run", wallTimeOf(at), { campaignId, chain, step });
		},

		/** Snapshot (once), batches until the budget is spent, then completion or progress. */
		async runNow(ctx: Context, c: Lean): Promise<RunResult & { progress?: unknown }> {
			if (!c.snapshotAt) await this.snapshot(ctx, c);
			const result = await runCampaign(this.env(ctx), c._id, JOB_BUDGET_MS);
			const counts = await countDeliveries(c._id);
			const progress = progressOf(counts);
			ctx.emit("campaign.progress", { merchantId: c.merchantId, campaignId: c._id, progress });
			if (result.state === "done") await this.complete(ctx, c, counts);
			return { ...result, progress };
		},

		async snapshot(ctx: Context, c: Lean) {
			const t0 = Date.now();
			const counts = await snapshotAudience(
				{ _id: c._id, merchantId: c.merchantId, segments: c.segments as never },
				clock.now(),
				async n => {
					this.logger.info(`campaign ${c._id} snapshot progress: ${n.total} recipients (${n.eligible} eligible, ${n.skipped} skipped)`);
					await CampaignModel.updateOne({ _id: c._id }, { $set: { heartbeatAt: clock.now() } });
				}
			);
			await CampaignModel.updateOne({ _id: c._id }, { $set: { snapshotAt: clock.now(), targetContactCount: counts.eligible } });
			this.logger.info(
				`campaign ${c._id} snapshot done in ${Date.now() - t0} ms: ${counts.total} recipients, ${counts.eligible} eligible, ${counts.skipped} skipped`
			);
			if (await this.once(`started:${c._id}`, c._id))
				ctx.emit("campaign.started", { merchantId: c.merchantId, campaignId: c._id, ...counts });
		},

		async complete(ctx: Context, c: Lean, counts: Awaited<ReturnType<typeof countDeliveries>>) {
			await CampaignModel.updateOne(
				{ _id: c._id, status: { $in: statusesFor("complete") } },
				{ $set: { status: "completed", completedAt: clock.now(), chain: null, holds: [] } }
			);
			// Cancelled meanwhile: a cancelled campaign does not complete.
			if ((await CampaignModel.findById(c._id, { status: 1 }).lean())?.status !== "completed") return;
			if (await this.once(`completed:${c._id}`, c._id)) {
				this.logger.info(`campaign ${c._id} completed: ${JSON.stringify(progressOf(counts))}`);
				ctx.emit("campaign.completed", {
					merchantId: c.merchantId,
					campaignId: c._id,
					progress: progressOf(counts),
					metrics: campaignCounts(counts),
				});
			}
		},

		async once(key: string, campaignId: string): Promise<boolean> {
			try {
				await CampaignOnceModel.create({ _id: key, campaignId });
				return true;
			} catch (err) {
				if (isDuplicateKey(err)) return false;
				throw err;
			}
		},

		async sweep(ctx: Context) {
			const now = clock.now();
			const report = { started: 0, completed: 0, restarted: 0, unknown: 0, expired: 0 };
			const due = await CampaignModel.find({ status: "scheduled", "schedule.startAt": { $lte: now } })
				.limit(50)
				.lean<Lean[]>();
			for (const c of due) {
				await this.beginScheduled(ctx, c);
				report.started++;
			}
			const active = await CampaignModel.find({ status: { $in: ["running", "paused"] } })
				.limit(500)
				.lean<Lean[]>();
			for (const c of active) {
				// Before its snapshot a campaign has no rows yet: only a stalled chain is looked at.
				if (c.snapshotAt) {
					report.unknown += await settleStale(c._id, now);
					if (c.schedule?.endAt && now >= new Date(c.schedule.endAt)) report.expired += await expirePending(c._id, now);
					if ((await openCount(c._id)) === 0) {
						await this.complete(ctx, c, await countDeliveries(c._id));
						report.completed++;
						continue;
					}
				}
				const last = Math.max(new Date(c.nextRunAt ?? 0).getTime(), new Date(c.heartbeatAt ?? 0).getTime());
				if (c.status === "running" && last < now.getTime() - STALL_MS) {
					const chain = randomUUID();
					await CampaignModel.updateOne({ _id: c._id, status: "running" }, { $set: { chain } });
					await this.scheduleStep(c._id, chain, 0, now);
					this.logger.warn(`campaign ${c._id}: its job chain stalled; restarted`);
					report.restarted++;
				}
			}
			return report;
		},
	},
} satisfies Partial<ServiceSchema>;

/** The methods the mixin gives the campaigns service, for its `defineService<CampaignJobsMethods & ...>()`. */
export type CampaignJobsMethods = typeof CampaignJobsMixin.methods;
