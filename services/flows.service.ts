import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { FLOW_STATUSES, FlowModel, type Flow } from "../models/flow.model.ts";
import { FLOW_RUN_STATUSES, FlowRunModel, type FlowRun } from "../models/flow-run.model.ts";
import { FlowClaimModel } from "../models/flow-claim.model.ts";
import { TemplateModel } from "../models/template.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { AgendaMixin, type AgendaMethods } from "../mixins/agenda.mixin.ts";
import { TenantMixin, merchantOf, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { PageParams, pageOf, paged } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ConflictError, ValidationFailedError } from "../lib/errors.ts";
import { clock, wallTimeOf } from "./flows/clock.ts";
import { flowProblems, templateIdsOf, type FlowTrigger, type TemplateInfo, type TriggerType } from "./flows/definition.ts";
import { matchesKeywords } from "./flows/keywords.ts";
import { advance, dueRunIds, enterFlow, type EngineEnv, type TriggerInfo } from "./flows/engine.ts";
import { countRuns, emptyCounts, presentFlow, presentRun, type RunCounts } from "./flows/present.ts";

// Automation flows: a trigger (a broker event) starts a run per contact and event, and the run
// walks the flow's nodes. The definition and its checks are ./flows/definition.ts, positions
// ./flows/plan.ts, the exactly-once engine ./flows/engine.ts; docs/flows.md tells the story.
//
// Jobs: `flows.resume` at a run's dueAt (a wait, a delay, a send limit); `flows.sweep` every
// minute resumes whatever is due and was not (a node that died before scheduling).

const RESUME_BATCH = 500;
const RESUME_PARALLEL = 10;

type Lean = Flow & { _id: string };

const Node = Type.Record(Type.String(), Type.Unknown(), {
	description: "a node {type, id?, delay?, ...}; checked by services/flows/definition.ts",
});
const Fields = {
	name: Type.String({ minLength: 1, maxLength: 200 }),
	description: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
	trigger: Type.Object(
		{ type: Type.String({ maxLength: 50 }), config: Type.Optional(Type.Record(Type.String(), Type.Unknown())) },
		{ additionalProperties: false }
	),
	nodes: Type.Array(Node, { maxItems: 1000 }),
	allowReentry: Type.Boolean(),
};
const CreateParams = Strict({
	name: Fields.name,
	description: Type.Optional(Fields.description),
	trigger: Fields.trigger,
	nodes: Fields.nodes,
	allowReentry: Type.Optional(Fields.allowReentry),
});
const UpdateParams = Strict({
	id: Id(),
	name: Type.Optional(Fields.name),
	description: Type.Optional(Fields.description),
	trigger: Type.Optional(Fields.trigger),
	nodes: Type.Optional(Fields.nodes),
	allowReentry: Type.Optional(Fields.allowReentry),
});
const ListParams = Strict({ status: Type.Optional(StringEnum(FLOW_STATUSES)), ...PageParams });
const IdParams = Strict({ id: Id() });
const RunsParams = Strict({ id: Id(), status: Type.Optional(StringEnum(FLOW_RUN_STATUSES)), ...PageParams });
const ResumeParams = Type.Object({ runId: Type.String({ minLength: 1 }), now: Type.Optional(Type.String({ format: "date-time" })) });
const ResumeDueParams = Type.Object({
	now: Type.Optional(Type.String({ format: "date-time" })),
	limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
});
const InUseParams = Type.Object({ templateId: Type.Optional(Type.String()), segmentId: Type.Optional(Type.String()) });
const EraseParams = Type.Object({ contactId: Type.String() });

const activeFlowError = (verb: string) =>
	new ConflictError(`An active flow cannot be ${verb}; deactivate it first`, "FLOW_ACTIVE", { field: "status", status: "active" });

const FlowsService = defineService<TenantMethods & AgendaMethods>()({
	name: "flows",
	mixins: [
		DbMixin([FlowModel, FlowRunModel, FlowClaimModel]),
		AgendaMixin({
			jobs: {
				"flows.resume": {
					concurrency: 20,
					async handler(job) {
						await this.broker.call("flows.resume", job.attrs.data as object, { timeout: 0 });
					},
				},
				"flows.sweep": {
					every: "1 minute",
					concurrency: 1,
					async handler() {
						await this.broker.call("flows.resumeDue", {}, { timeout: 0 });
					},
				},
			},
		}),
		TenantMixin,
	],
	settings: { rest: "/" },

	methods: {
		env(ctx: Context): EngineEnv {
			return {
				ctx,
				schedule: async (runId: string, at: Date) => {
					await this.scheduleJob("flows.resume", wallTimeOf(at), { runId });
				},
			};
		},

		/** Starts a run of every active flow of the merchant with this trigger that accepts the event. */
		async trigger(
			ctx: Context,
			type: TriggerType,
			p: { merchantId?: string; contactId?: string },
			info: TriggerInfo,
			accepts?: (t: FlowTrigger) => boolean
		) {
			if (!p.merchantId || !p.contactId) return;
			const flows = await FlowModel.find({ status: "active", "trigger.type": type, merchantId: p.merchantId }).lean<Lean[]>();
			for (const flow of flows) {
				if (accepts && !accepts(flow.trigger as FlowTrigger)) continue;
				try {
					await enterFlow(this.env(ctx), flow, p.contactId, info);
				} catch (err) {
					this.logger.error(`flow ${flow._id} could not start for contact ${p.contactId}:`, (err as Error).message);
				}
			}
		},

		/** 422 naming every problem of the definition (templates of other merchants count as missing). */
		async checkDefinition(merchantId: string, input: { trigger?: unknown; nodes?: unknown }) {
			const ids = templateIdsOf(input.nodes);
			const rows = ids.length
				? await TemplateModel.find({ _id: { $in: ids } }, { merchantId: 1, type: 1, content: 1, options: 1, card: 1 }).lean()
				: [];
			const templates = new Map(rows.map(t => [t._id as string, t as unknown as TemplateInfo]));
			const problems = flowProblems(input, merchantId, templates);
			if (problems.length) throw new ValidationFailedError(problems);
		},

		/** Run counts per flow, from the runs themselves. */
		async runCounts(flowIds: string[]) {
			if (!flowIds.length) return new Map<string, RunCounts>();
			// Counted by the database (on MongoDB from the {flowId, status} index alone): a page of
			// flows must not read every run those flows ever had.
			const groups = await FlowRunModel.aggregate<{ _id: { flowId: string; status: string }; n: number }>([
				{ $match: { flowId: { $in: flowIds } } },
				{ $group: { _id: { flowId: "$flowId", status: "$status" }, n: { $sum: 1 } } },
			]);
			const counts = countRuns(groups.map(g => ({ flowId: g._id.flowId, status: g._id.status, n: g.n })));
			for (const id of flowIds) if (!counts.has(id)) counts.set(id, emptyCounts());
			return counts;
		},
	},

	actions: {
		create: {
			rest: "POST /automation/flows",
			params: CreateParams,
			async handler(ctx: TenantContext<Static<typeof CreateParams>>) {
				const merchantId = this.merchantOf(ctx);
				const { name, description, trigger, nodes, allowReentry } = ctx.params;
				await this.checkDefinition(merchantId, { trigger, nodes });
				const flow = await FlowModel.create({
					merchantId,
					name: name.trim(),
					description: description ?? null,
					trigger: { type: trigger.type, config: trigger.config ?? {} },
					nodes,
					templateIds: templateIdsOf(nodes),
					allowReentry: allowReentry ?? false,
				});
				return presentFlow(flow.toObject() as Lean);
			},
		},

		list: {
			rest: "GET /automation/flows",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const query = { status: ctx.params.status || undefined };
				return this.findPage(ctx, FlowModel, { query, sort: { createdAt: -1, _id: 1 } }, ctx.params, async (rows: Lean[]) => {
					const counts = await this.runCounts(rows.map(r => r._id));
					return rows.map(r => presentFlow(r, counts.get(r._id)));
				});
			},
		},

		get: {
			rest: "GET /automation/flows/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const flow: Lean = await this.findOwned(ctx, FlowModel, ctx.params.id, "Flow");
				return presentFlow(flow, (await this.runCounts([flow._id])).get(flow._id));
			},
		},

		update: {
			rest: "PUT /automation/flows/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, name, description, trigger, nodes, allowReentry } = ctx.params;
				const flow: Lean = await this.findOwned(ctx, FlowModel, id, "Flow");
				if (flow.status === "active") throw activeFlowError("edited");
				await this.checkDefinition(flow.merchantId, { trigger, nodes });
				const set: Record<string, unknown> = {};
				if (name !== undefined) set.name = name.trim();
				if (description !== undefined) set.description = description;
				if (trigger) set.trigger = { type: trigger.type, config: trigger.config ?? {} };
				if (nodes) Object.assign(set, { nodes, templateIds: templateIdsOf(nodes) });
				if (allowReentry !== undefined) set.allowReentry = allowReentry;
				const res = await FlowModel.updateOne({ _id: id, merchantId: flow.merchantId, status: "inactive" }, { $set: set });
				if (!res.matchedCount) throw activeFlowError("edited");
				return this.actions.get({ id }, { parentCtx: ctx });
			},
		},

		remove: {
			rest: "DELETE /automation/flows/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const flow: Lean = await this.findOwned(ctx, FlowModel, ctx.params.id, "Flow");
				if (flow.status === "active") throw activeFlowError("deleted");
				const res = await FlowModel.deleteOne({ _id: flow._id, status: "inactive" });
				if (!res.deletedCount) throw activeFlowError("deleted");
				await FlowRunModel.deleteMany({ flowId: flow._id });
				return { id: flow._id, deleted: true };
			},
		},

		activate: {
			rest: "POST /automation/flows/:id/activate",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const flow: Lean = await this.findOwned(ctx, FlowModel, ctx.params.id, "Flow");
				if (flow.status !== "active") {
					// Templates may have been deleted since the flow was saved.
					await this.checkDefinition(flow.merchantId, { trigger: flow.trigger, nodes: flow.nodes });
					await FlowModel.updateOne(
						{ _id: flow._id, status: "inactive" },
						{ $set: { status: "active", activatedAt: clock.now(), activation: (flow.activation ?? 0) + 1 } }
					);
				}
				return this.actions.get({ id: flow._id }, { parentCtx: ctx });
			},
		},

		deactivate: {
			rest: "POST /automation/flows/:id/deactivate",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const flow: Lean = await this.findOwned(ctx, FlowModel, ctx.params.id, "Flow");
				if (flow.status === "active") {
					await FlowModel.updateOne({ _id: flow._id }, { $set: { status: "inactive", deactivatedAt: clock.now() } });
				}
				// Active runs are cancelled by their next step (the activation no longer matches).
				return this.actions.get({ id: flow._id }, { parentCtx: ctx });
			},
		},

		runs: {
			rest: "GET /automation/flows/:id/runs",
			params: RunsParams,
			async handler(ctx: TenantContext<Static<typeof RunsParams>>) {
				const flow: Lean = await this.findOwned(ctx, FlowModel, ctx.params.id, "Flow");
				const filter = { flowId: flow._id, ...(ctx.params.status ? { status: ctx.params.status } : {}) };
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					FlowRunModel.find(filter).sort({ startedAt: -1, _id: 1 }).skip(skip).limit(take).lean<(FlowRun & { _id: string })[]>(),
					FlowRunModel.countDocuments(filter),
				]);
				return paged(rows.map(presentRun), total, ctx.params);
			},
		},

		// --- internal
		/** Continues one run (its Agenda job, or anyone who knows it is due). */
		resume: {
			visibility: "public",
			params: ResumeParams,
			async handler(ctx: Context<Static<typeof ResumeParams>>) {
				await advance(this.env(ctx), ctx.params.runId, ctx.params.now ? new Date(ctx.params.now) : undefined);
				return { runId: ctx.params.runId };
			},
		},

		/** Continues every run due at `now` (default: the flows' clock). The sweep; tests fast-forward with it. */
		resumeDue: {
			visibility: "public",
			params: ResumeDueParams,
			async handler(ctx: Context<Static<typeof ResumeDueParams>>) {
				const now = ctx.params.now ? new Date(ctx.params.now) : clock.now();
				const env = this.env(ctx);
				let resumed = 0;
				const max = ctx.params.limit ?? 100_000;
				while (resumed < max) {
					const ids = await dueRunIds(now, Math.min(RESUME_BATCH, max - resumed));
					if (!ids.length) break;
					let next = 0;
					const worker = async () => {
						while (next < ids.length)
							await advance(env, ids[next++], now).catch(err => this.logger.warn(`flow run ${ids[next - 1]}:`, err.message));
					};
					await Promise.all(Array.from({ length: RESUME_PARALLEL }, worker));
					resumed += ids.length;
					if (ids.length < RESUME_BATCH) break;
				}
				return { resumed };
			},
		},

		templateInUse: {
			visibility: "public",
			params: InUseParams,
			async handler(ctx: Context<Static<typeof InUseParams>>) {
				if (!ctx.params.templateId) return { inUse: false, usedBy: [] };
				// A 409's examples, not an inventory: bounded like every read on a request path.
				const rows = await FlowModel.find(
					{ merchantId: merchantOf(ctx), templateIds: ctx.params.templateId, status: "active" },
					{ name: 1, status: 1 }
				)
					.limit(20)
					.lean<Lean[]>();
				return { inUse: rows.length > 0, usedBy: rows.map(r => ({ kind: "flow", id: r._id, name: r.name, status: r.status })) };
			},
		},

		eraseContact: {
			visibility: "public",
			params: EraseParams,
			async handler(ctx: TenantContext<Static<typeof EraseParams>>) {
				const { contactId } = ctx.params;
				const merchantId = merchantOf(ctx);
				const runs = await FlowRunModel.find({ merchantId, contactId }, { _id: 1 }).lean();
				await FlowClaimModel.deleteMany({ merchantId, runId: { $in: runs.map(r => r._id) } });
				return { flowRuns: (await FlowRunModel.deleteMany({ merchantId, contactId })).deletedCount };
			},
		},
	},

	events: {
		"contact.created"(ctx: Context<{ merchantId: string; contactId: string }>) {
			return this.trigger(ctx, "contact_created", ctx.params, { type: "contact_created", eventKey: "contact.created" });
		},
		"message.received"(
			ctx: Context<{ merchantId: string; contactId: string; conversationId: string; messageId: string; content?: string }>
		) {
			const p = ctx.params;
			return this.trigger(
				ctx,
				"message_received",
				p,
				{ type: "message_received", eventKey: `message:${p.messageId}`, conversationId: p.conversationId, messageId: p.messageId },
				(t: FlowTrigger) => matchesKeywords(p.content, t.config?.keywords, t.config?.match ?? "any")
			);
		},
		"contact.tagAdded"(ctx: Context<{ merchantId: string; contactId: string; tag: string }>) {
			const p = ctx.params;
			// The event carries no id of its own: the context id tells two additions of a tag apart.
			return this.trigger(
				ctx,
				"tag_added",
				p,
				{ type: "tag_added", eventKey: `tag:${p.tag}:${ctx.id}` },
				(t: FlowTrigger) => t.config?.tag === p.tag
			);
		},
		"conversation.closed"(ctx: Context<{ merchantId: string; contactId: string; conversationId: string }>) {
			const p = ctx.params;
			return this.trigger(ctx, "conversation_closed", p, {
				type: "conversation_closed",
				eventKey: `closed:${p.conversationId}`,
				conversationId: p.conversationId,
			});
		},
		// Emitted by the campaigns service when a customer's message is a campaign's reply.
		"campaign.replied"(
			ctx: Context<{ merchantId: string; campaignId: string; contactId: string; messageId: string; conversationId?: string | null }>
		) {
			const p = ctx.params;
			return this.trigger(
				ctx,
				"campaign_replied",
				p,
				{ type: "campaign_replied", eventKey: `reply:${p.messageId}`, messageId: p.messageId, conversationId: p.conversationId ?? null },
				(t: FlowTrigger) => t.config?.campaignId === p.campaignId
			);
		},
	},
});

export default FlowsService;
