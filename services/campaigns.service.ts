import { randomUUID } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { CAMPAIGN_STATUSES, CampaignModel, type Campaign, type CampaignStatus } from "../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../models/campaign-send-claim.model.ts";
import { CampaignLinkModel } from "../models/campaign-link.model.ts";
import { CampaignOnceModel } from "../models/campaign-once.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { AgendaMixin } from "../mixins/agenda.mixin.ts";
import { TenantMixin, type TenantContext } from "../mixins/tenant.mixin.ts";
import { PageParams, pageOf, paged } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { config } from "../lib/config.ts";
import { ConflictError, NotFoundError } from "../lib/errors.ts";
import { isDuplicateKey } from "../lib/ids.ts";
import { clock, wallTimeOf } from "./campaigns/clock.ts";
import { ACTIVE_STATUSES, canApply, nextStatus, statusesFor, statusForSchedule, type CampaignCommand } from "./campaigns/state.ts";
import { resolveDefinition, type CampaignDefinition } from "./campaigns/definition.ts";
import { planAudience, snapshotAudience } from "./campaigns/audience.ts";
import { expirePending, openCount, runCampaign, settleStale, type RunResult, type RunnerEnv } from "./campaigns/runner.ts";
import { eraseContactRows, recordClick, recordReads, recordReply } from "./campaigns/engagement.ts";
import { campaignCounts, campaignMetrics, progressOf } from "./campaigns/metrics.ts";
import { countDeliveries, presentCampaign } from "./campaigns/present.ts";
import { previewLaunch } from "./campaigns/preview.ts";

// Campaigns: one template to the eligible contacts of some segments, sent by Agenda jobs under
// the shared send limits. The lifecycle is ./campaigns/state.ts, the audience and its snapshot
// ./campaigns/audience.ts, the exactly-once sending ./campaigns/runner.ts, opens/clicks/replies
// ./campaigns/engagement.ts; docs/campaigns.md tells the whole story.
//
// Jobs: `campaigns.start` at schedule.startAt; `campaigns.run` is a chain of steps (each runs
// batches for up to JOB_BUDGET_MS, then schedules the next: now, or when a send limit frees
// up); `campaigns.sweep` every minute starts what is due, settles lost sends, expires what
// passed schedule.endAt and restarts a chain whose node died.

const JOB_BUDGET_MS = 10_000;
/** A running campaign without a heartbeat or a due step for this long has lost its chain. */
const STALL_MS = 2 * 60_000;

type Lean = Campaign & { _id: string };

const DateTime = Type.Union([Type.String({ format: "date-time" }), Type.Null()]);
const Fields = {
	name: Type.String({ minLength: 1, maxLength: 200 }),
	templateId: Id(),
	segmentIds: Type.Array(Id(), { minItems: 1, maxItems: 20 }),
	schedule: Strict({ startAt: Type.Optional(DateTime), endAt: Type.Optional(DateTime) }),
	variables: Type.Record(Type.String(), Type.Unknown(), { maxProperties: 100 }),
};
const CreateParams = Strict({
	name: Fields.name,
	templateId: Fields.templateId,
	segmentIds: Fields.segmentIds,
	schedule: Type.Optional(Fields.schedule),
	variables: Type.Optional(Fields.variables),
});
const UpdateParams = Strict({
	id: Id(),
	name: Type.Optional(Fields.name),
	templateId: Type.Optional(Fields.templateId),
	segmentIds: Type.Optional(Fields.segmentIds),
	schedule: Type.Optional(Fields.schedule),
	variables: Type.Optional(Fields.variables),
});
const ListParams = Strict({ status: Type.Optional(StringEnum(CAMPAIGN_STATUSES)), ...PageParams });
const IdParams = Strict({ id: Id() });
const CampaignRef = Type.Object({ campaignId: Type.String({ minLength: 1 }) });
const StepParams = Type.Object({ campaignId: Type.String({ minLength: 1 }), chain: Type.String({ minLength: 1 }), step: Type.Integer({ minimum: 0 }) });
const InUseParams = Type.Object({ merchantId: Type.String(), templateId: Type.Optional(Type.String()), segmentId: Type.Optional(Type.String()) });

type ScheduleInput = Static<typeof Fields.schedule>;
const toDate = (v: string | null | undefined) => (v ? new Date(v) : null);

function invalidStatus(command: CampaignCommand, status: CampaignStatus) {
	return new ConflictError(`Cannot ${command} a campaign that is ${status}`, "INVALID_CAMPAIGN_STATUS", {
		field: "status",
		message: `the campaign is ${status}; ${command} applies to: ${statusesFor(command).join(", ")}`,
		status,
	});
}

function definitionOf(c: Pick<Lean, "templateId" | "segmentIds" | "schedule" | "variables">): CampaignDefinition {
	return {
		templateId: c.templateId,
		segmentIds: c.segmentIds ?? [],
		schedule: { startAt: toDate(c.schedule?.startAt as never), endAt: toDate(c.schedule?.endAt as never) },
		variables: (c.variables as Record<string, unknown>) ?? {},
	};
}

const CampaignsService: ServiceSchema = {
	name: "campaigns",
	mixins: [
		DbMixin([CampaignModel, CampaignDeliveryModel, CampaignSendClaimModel, CampaignLinkModel, CampaignOnceModel]),
		AgendaMixin({
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
		TenantMixin,
	],
	settings: { rest: "/" },

	actions: {
		create: {
			rest: "POST /campaigns",
			params: CreateParams,
			async handler(ctx: TenantContext<Static<typeof CreateParams>>) {
				const p = ctx.params;
				const merchantId = this.merchantOf(ctx);
				const now = clock.now();
				const def: CampaignDefinition = {
					templateId: p.templateId,
					segmentIds: [...new Set(p.segmentIds)],
					schedule: { startAt: toDate(p.schedule?.startAt), endAt: toDate(p.schedule?.endAt) },
					variables: p.variables ?? {},
				};
				const resolved = await resolveDefinition(ctx, merchantId, def, now);
				const status = statusForSchedule("draft", def.schedule.startAt);
				const targetContactCount = status === "scheduled" ? (await planAudience(merchantId, resolved.segments, now, 0)).eligible : null;
				const doc = await CampaignModel.create({ merchantId, name: p.name.trim(), ...def, status, targetContactCount });
				if (status === "scheduled") await this.scheduleStart(doc._id, def.schedule.startAt!);
				return presentCampaign(doc.toObject() as Lean);
			},
		},

		list: {
			rest: "GET /campaigns",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const filter = this.scoped(ctx, ctx.params.status ? { status: ctx.params.status } : {});
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					CampaignModel.find(filter).sort({ createdAt: -1, _id: 1 }).skip(skip).limit(take).lean<Lean[]>(),
					CampaignModel.countDocuments(filter),
				]);
				return paged(rows.map(presentCampaign), total, ctx.params);
			},
		},

		get: {
			rest: "GET /campaigns/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				const counts = await countDeliveries(c._id);
				return { ...presentCampaign(c), metrics: campaignCounts(counts), progress: progressOf(counts) };
			},
		},

		metrics: {
			rest: "GET /campaigns/:id/metrics",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				return { campaignId: c._id, status: c.status, ...campaignMetrics(await countDeliveries(c._id)) };
			},
		},

		update: {
			rest: "PUT /campaigns/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const p = ctx.params;
				const c: Lean = await this.findOwned(ctx, CampaignModel, p.id, "Campaign");
				if (!canApply("edit", c.status)) throw invalidStatus("edit", c.status);
				const current = definitionOf(c);
				const schedule = p.schedule as ScheduleInput | undefined;
				const def: CampaignDefinition = {
					templateId: p.templateId ?? current.templateId,
					segmentIds: p.segmentIds ? [...new Set(p.segmentIds)] : current.segmentIds,
					schedule: {
						startAt: schedule && "startAt" in schedule ? toDate(schedule.startAt) : current.schedule.startAt,
						endAt: schedule && "endAt" in schedule ? toDate(schedule.endAt) : current.schedule.endAt,
					},
					variables: p.variables ?? current.variables,
				};
				const now = clock.now();
				const resolved = await resolveDefinition(ctx, c.merchantId, def, now);
				const status = statusForSchedule(c.status as "draft" | "scheduled", def.schedule.startAt);
				const targetContactCount = status === "scheduled" ? (await planAudience(c.merchantId, resolved.segments, now, 0)).eligible : null;
				const res = await CampaignModel.updateOne(
					{ _id: c._id, status: { $in: statusesFor("edit") } },
					{ $set: { ...def, ...(p.name ? { name: p.name.trim() } : {}), status, targetContactCount } }
				);
				if (!res.matchedCount) throw invalidStatus("edit", (await CampaignModel.findById(c._id, { status: 1 }).lean())?.status ?? c.status);
				if (status === "scheduled" && def.schedule.startAt?.getTime() !== current.schedule.startAt?.getTime()) await this.scheduleStart(c._id, def.schedule.startAt!);
				return presentCampaign((await CampaignModel.findById(c._id).lean<Lean>())!);
			},
		},

		remove: {
			rest: "DELETE /campaigns/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				if (!canApply("delete", c.status)) throw invalidStatus("delete", c.status);
				const res = await CampaignModel.deleteOne({ _id: c._id, status: { $in: statusesFor("delete") } });
				if (!res.deletedCount) throw invalidStatus("delete", (await CampaignModel.findById(c._id, { status: 1 }).lean())?.status ?? c.status);
				return { id: c._id, deleted: true };
			},
		},

		previewLaunch: {
			rest: "POST /campaigns/:id/preview-launch",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				const now = clock.now();
				const resolved = c.template ? { template: c.template, segments: c.segments } : await resolveDefinition(ctx, c.merchantId, definitionOf(c), now, false);
				return previewLaunch(ctx, c, resolved, now);
			},
		},

		start: {
			rest: "POST /campaigns/:id/start",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				if (!canApply("start", c.status)) throw invalidStatus("start", c.status);
				return presentCampaign(await this.begin(ctx, c));
			},
		},

		pause: {
			rest: "POST /campaigns/:id/pause",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				return presentCampaign(await this.transition(ctx, ctx.params.id, "pause", { pausedAt: clock.now() }));
			},
		},

		resume: {
			rest: "POST /campaigns/:id/resume",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const chain = randomUUID();
				const c = await this.transition(ctx, ctx.params.id, "resume", { chain, pausedAt: null, heartbeatAt: clock.now() });
				await this.scheduleStep(c._id, chain, 0, clock.now());
				return presentCampaign(c);
			},
		},

		cancel: {
			rest: "POST /campaigns/:id/cancel",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const now = clock.now();
				const c = await this.transition(ctx, ctx.params.id, "cancel", { cancelledAt: now, chain: null, holds: [] });
				// A send already claimed finishes as what X answers; everything else stays unsent.
				await CampaignDeliveryModel.updateMany({ campaignId: c._id, status: "pending" }, { $set: { status: "cancelled", reason: "campaign_cancelled", finishedAt: now } });
				ctx.emit("campaign.cancelled", { merchantId: c.merchantId, campaignId: c._id });
				return presentCampaign(c);
			},
		},

		/** GET /r/:token (the gateway's tracking route, no auth): 302 to the link, first click counted. */
		click: {
			params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 100 }) }),
			async handler(ctx: Context<{ token: string }, { $statusCode?: number; $location?: string }>) {
				const hit = await recordClick(ctx.params.token, clock.now());
				if (!hit) throw new NotFoundError("Link");
				ctx.meta.$statusCode = 302;
				ctx.meta.$location = hit.url;
				return null;
			},
		},

		// --- internal: jobs, tests and operators
		startDue: {
			visibility: "public",
			params: CampaignRef,
			async handler(ctx: Context<{ campaignId: string }>) {
				const c = await CampaignModel.findById(ctx.params.campaignId).lean<Lean>();
				if (!c || c.status !== "scheduled" || !c.schedule?.startAt) return { started: false };
				if (new Date(c.schedule.startAt) > clock.now()) return { started: false };
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

		templateInUse: {
			visibility: "public",
			params: InUseParams,
			handler(ctx: Context<Static<typeof InUseParams>>) {
				return this.usedBy({ merchantId: ctx.params.merchantId, templateId: ctx.params.templateId });
			},
		},
		segmentInUse: {
			visibility: "public",
			params: InUseParams,
			handler(ctx: Context<Static<typeof InUseParams>>) {
				return this.usedBy({ merchantId: ctx.params.merchantId, segmentIds: ctx.params.segmentId });
			},
		},
		eraseContact: {
			visibility: "public",
			params: Type.Object({ merchantId: Type.String(), contactId: Type.String() }),
			handler(ctx: Context<{ merchantId: string; contactId: string }>) {
				return eraseContactRows(ctx.params.merchantId, ctx.params.contactId);
			},
		},
	},

	events: {
		"message.read": {
			async handler(ctx: Context<Parameters<typeof recordReads>[0]>) {
				await recordReads(ctx.params);
			},
		},
		"message.received": {
			async handler(ctx: Context<Parameters<typeof recordReply>[0]>) {
				await recordReply(ctx.params, config().campaigns.replyWindowHours * 3600_000);
			},
		},
	},

	methods: {
		env(ctx: Context): RunnerEnv {
			return { ctx, logger: this.logger, nodeID: this.broker.nodeID, stopping: () => Boolean(this.broker.stopping) };
		},

		async usedBy(filter: Record<string, unknown>) {
			const rows = await CampaignModel.find({ ...filter, status: { $in: ACTIVE_STATUSES } }, { name: 1, status: 1 }).lean<Lean[]>();
			return { inUse: rows.length > 0, usedBy: rows.map(r => ({ kind: "campaign", id: r._id, name: r.name, status: r.status })) };
		},

		/** Applies a lifecycle command with a conditional update; 409 naming the status otherwise. */
		async transition(ctx: TenantContext, id: string, command: CampaignCommand, $set: Record<string, unknown>): Promise<Lean> {
			const c: Lean = await this.findOwned(ctx, CampaignModel, id, "Campaign");
			const to = nextStatus(command, c.status);
			if (!to) throw invalidStatus(command, c.status);
			const res = await CampaignModel.updateOne({ _id: id, status: { $in: statusesFor(command) } }, { $set: { status: to, ...$set } });
			if (!res.matchedCount) throw invalidStatus(command, (await CampaignModel.findById(id, { status: 1 }).lean())?.status ?? c.status);
			return (await CampaignModel.findById(id).lean<Lean>())!;
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
					await CampaignModel.updateOne({ _id: c._id, status: "scheduled" }, { $set: { status: "cancelled", cancelledAt: clock.now(), cancelReason: `invalid at start: ${JSON.stringify(e.data)}` } });
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
			const counts = await snapshotAudience({ _id: c._id, merchantId: c.merchantId, segments: c.segments as never }, clock.now(), n =>
				this.logger.info(`campaign ${c._id} snapshot progress: ${n.total} recipients (${n.eligible} eligible, ${n.skipped} skipped)`)
			);
			await CampaignModel.updateOne({ _id: c._id }, { $set: { snapshotAt: clock.now(), targetContactCount: counts.eligible } });
			this.logger.info(`campaign ${c._id} snapshot done in ${Date.now() - t0} ms: ${counts.total} recipients, ${counts.eligible} eligible, ${counts.skipped} skipped`);
			if (await this.once(`started:${c._id}`, c._id)) ctx.emit("campaign.started", { merchantId: c.merchantId, campaignId: c._id, ...counts });
		},

		async complete(ctx: Context, c: Lean, counts: Awaited<ReturnType<typeof countDeliveries>>) {
			await CampaignModel.updateOne({ _id: c._id, status: { $in: statusesFor("complete") } }, { $set: { status: "completed", completedAt: clock.now(), chain: null, holds: [] } });
			if (await this.once(`completed:${c._id}`, c._id)) {
				this.logger.info(`campaign ${c._id} completed: ${JSON.stringify(progressOf(counts))}`);
				ctx.emit("campaign.completed", { merchantId: c.merchantId, campaignId: c._id, progress: progressOf(counts), metrics: campaignCounts(counts) });
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
			const due = await CampaignModel.find({ status: "scheduled", "schedule.startAt": { $lte: now } }).limit(50).lean<Lean[]>();
			for (const c of due) {
				await this.beginScheduled(ctx, c);
				report.started++;
			}
			const active = await CampaignModel.find({ status: { $in: ["running", "paused"] } }).limit(500).lean<Lean[]>();
			for (const c of active) {
				if (!c.snapshotAt) continue;
				report.unknown += await settleStale(c._id, now);
				if (c.schedule?.endAt && now >= new Date(c.schedule.endAt)) report.expired += await expirePending(c._id, now);
				if ((await openCount(c._id)) === 0) {
					await this.complete(ctx, c, await countDeliveries(c._id));
					report.completed++;
					continue;
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
};

// Snapshots and batches can outlast the broker's request timeout: the jobs call these without one.
for (const name of ["create", "update", "previewLaunch", "start"]) (CampaignsService.actions![name] as Record<string, unknown>).timeout = 120_000;

export default CampaignsService;
