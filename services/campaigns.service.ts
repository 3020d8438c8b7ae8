import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { CAMPAIGN_STATUSES, CampaignModel, type Campaign } from "../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../models/campaign-send-claim.model.ts";
import { CampaignLinkModel } from "../models/campaign-link.model.ts";
import { CampaignOnceModel } from "../models/campaign-once.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, merchantOf, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { PageParams } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { config } from "../lib/config.ts";
import { NotFoundError } from "../lib/errors.ts";
import { clock } from "./campaigns/clock.ts";
import {
	ACTIVE_STATUSES,
	canApply,
	invalidStatus,
	nextStatus,
	statusesFor,
	statusForSchedule,
	type CampaignCommand,
} from "./campaigns/state.ts";
import { definitionOf, resolveDefinition, type CampaignDefinition } from "./campaigns/definition.ts";
import { planAudience } from "./campaigns/audience.ts";
import { eraseContactRows, recordClick, recordReads, recordReply } from "./campaigns/engagement.ts";
import { campaignCounts, campaignMetrics, progressOf } from "./campaigns/metrics.ts";
import { countDeliveries, presentCampaign } from "./campaigns/present.ts";
import { previewLaunch } from "./campaigns/preview.ts";
import { CampaignJobsMixin, type CampaignJobsMethods } from "./campaigns/jobs.ts";
import { endPending } from "./campaigns/runner.ts";

// Campaigns: one template to the eligible contacts of some segments, sent by Agenda jobs under
// the shared send limits. This file is the API, the answers to other services and the events;
// the jobs are ./campaigns/jobs.ts, the lifecycle ./campaigns/state.ts, the audience and its
// snapshot ./campaigns/audience.ts, the exactly-once sending ./campaigns/runner.ts, opens,
// clicks and replies ./campaigns/engagement.ts. docs/campaigns.md tells the whole story.

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
const MetricsForParams = Type.Object({ campaignIds: Type.Array(Type.String(), { maxItems: 1000 }) });
const InUseParams = Type.Object({ templateId: Type.Optional(Type.String()), segmentId: Type.Optional(Type.String()) });
const ClickParams = Type.Object({ token: Type.String() });
const EraseParams = Type.Object({ contactId: Type.String() });

type ScheduleInput = Static<typeof Fields.schedule>;
const toDate = (v: string | null | undefined) => (v ? new Date(v) : null);

const CampaignsService = defineService<TenantMethods & CampaignJobsMethods>()({
	name: "campaigns",
	mixins: [
		DbMixin([CampaignModel, CampaignDeliveryModel, CampaignSendClaimModel, CampaignLinkModel, CampaignOnceModel]),
		CampaignJobsMixin,
		TenantMixin,
	],
	settings: { rest: "/" },

	methods: {
		async usedBy(filter: Record<string, unknown>) {
			// A 409's examples, not an inventory: bounded like every read on a request path.
			const rows = await CampaignModel.find({ ...filter, status: { $in: ACTIVE_STATUSES } }, { name: 1, status: 1 })
				.limit(20)
				.lean<Lean[]>();
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
	},

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
				const query = { status: ctx.params.status || undefined };
				return this.findPage(ctx, CampaignModel, { query, sort: { createdAt: -1, _id: 1 } }, ctx.params, (rows: Lean[]) =>
					rows.map(presentCampaign)
				);
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
				if (status === "scheduled" && def.schedule.startAt?.getTime() !== current.schedule.startAt?.getTime())
					await this.scheduleStart(c._id, def.schedule.startAt!);
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
				if (!res.deletedCount)
					throw invalidStatus("delete", (await CampaignModel.findById(c._id, { status: 1 }).lean())?.status ?? c.status);
				return { id: c._id, deleted: true };
			},
		},

		previewLaunch: {
			rest: "POST /campaigns/:id/preview-launch",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const c: Lean = await this.findOwned(ctx, CampaignModel, ctx.params.id, "Campaign");
				const now = clock.now();
				const resolved = c.template
					? { template: c.template, segments: c.segments }
					: await resolveDefinition(ctx, c.merchantId, definitionOf(c), now, false);
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
				await endPending(c._id, "cancelled", "campaign_cancelled", now);
				ctx.emit("campaign.cancelled", { merchantId: c.merchantId, campaignId: c._id });
				return presentCampaign(c);
			},
		},

		/**
		 * GET /r/:token (the gateway's tracking route, no auth): 302 to the link, first click counted.
		 * Every bad token, unknown or malformed, is looked up the same way and answers the same 404.
		 */
		click: {
			params: ClickParams,
			async handler(ctx: Context<Static<typeof ClickParams>, { $statusCode?: number; $location?: string }>) {
				const hit = await recordClick(ctx.params.token, clock.now());
				if (!hit) throw new NotFoundError("Link");
				ctx.meta.$statusCode = 302;
				ctx.meta.$location = hit.url;
				return null;
			},
		},

		/** For analytics: name, status, accounts and lifetime metrics of the merchant's campaigns among `campaignIds`. */
		metricsFor: {
			visibility: "public",
			params: MetricsForParams,
			async handler(ctx: Context<Static<typeof MetricsForParams>>) {
				const rows = await CampaignModel.find(
					{ _id: { $in: ctx.params.campaignIds } },
					{ merchantId: 1, name: 1, status: 1, accountId: 1, accountIds: 1 }
				).lean<Lean[]>();
				const merchantId = merchantOf(ctx);
				const own = rows.filter(c => c.merchantId === merchantId);
				const counts = await Promise.all(own.map(c => countDeliveries(c._id)));
				return Object.fromEntries(
					own.map((c, i) => [
						c._id,
						{
							name: c.name,
							status: c.status,
							accountId: c.accountId ?? null,
							accountIds: c.accountIds ?? [],
							metrics: campaignCounts(counts[i]),
						},
					])
				);
			},
		},

		templateInUse: {
			visibility: "public",
			params: InUseParams,
			handler(ctx: Context<Static<typeof InUseParams>>) {
				return this.usedBy({ merchantId: merchantOf(ctx), templateId: ctx.params.templateId });
			},
		},
		segmentInUse: {
			visibility: "public",
			params: InUseParams,
			handler(ctx: Context<Static<typeof InUseParams>>) {
				return this.usedBy({ merchantId: merchantOf(ctx), segmentIds: ctx.params.segmentId });
			},
		},
		eraseContact: {
			visibility: "public",
			params: EraseParams,
			handler(ctx: TenantContext<Static<typeof EraseParams>>) {
				return eraseContactRows(merchantOf(ctx), ctx.params.contactId);
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
			async handler(ctx: Context<Parameters<typeof recordReply>[0] & { conversationId?: string }>) {
				const reply = await recordReply(ctx.params, config().campaigns.replyWindowHours * 3600_000);
				// Emitted again when the message is replayed: listeners key on messageId (flows do).
				if (reply) {
					const { merchantId, contactId, messageId, conversationId, at } = ctx.params;
					ctx.emit("campaign.replied", {
						merchantId,
						campaignId: reply.campaignId,
						contactId,
						messageId,
						conversationId: conversationId ?? null,
						at,
					});
				}
			},
		},
	},
});

// Planning an audience can outlast the broker's request timeout on a large merchant.
for (const name of ["create", "update", "previewLaunch", "start"])
	(CampaignsService.actions![name] as Record<string, unknown>).timeout = 120_000;

export default CampaignsService;
