import { Type, type Static } from "@sinclair/typebox";
import { SegmentModel, SEGMENT_MATCH, type Segment } from "../models/segment.model.ts";
import { ContactModel, type Contact } from "../models/contact.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { PageParams } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ConflictError } from "../lib/errors.ts";
import { escapeRegex } from "../lib/regex.ts";
import { askProviders } from "../lib/providers.ts";
import { compileConditions, MAX_CONDITIONS, SEGMENT_OPERATORS, segmentQuery, type SegmentMatch } from "./segments/compile.ts";

// Segments: saved contact conditions. The language and its compilation to a query live in
// ./segments/compile.ts, which campaigns and flows import to select contacts themselves.

const SAMPLE_SIZE = 10;

const Condition = Strict({
	field: Type.String({ minLength: 1, maxLength: 100 }),
	operator: StringEnum(SEGMENT_OPERATORS),
	// any JSON here; compile.ts checks it against the field's type (no coercion, no pass-through)
	value: Type.Optional(Type.Unknown()),
});
const Conditions = Type.Array(Condition, { maxItems: MAX_CONDITIONS });
const Match = StringEnum(SEGMENT_MATCH);

const CreateParams = Strict({
	name: Type.String({ minLength: 1, maxLength: 100 }),
	description: Type.Optional(Type.String({ maxLength: 1000 })),
	match: Type.Optional(StringEnum(SEGMENT_MATCH, { default: "all" })),
	conditions: Conditions,
});
const UpdateParams = Strict({
	id: Id(),
	name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
	description: Type.Optional(Type.String({ maxLength: 1000 })),
	match: Type.Optional(Match),
	conditions: Type.Optional(Conditions),
});
const ListParams = Strict({ search: Type.Optional(Type.String({ maxLength: 100 })), ...PageParams });
const IdParams = Strict({ id: Id() });
const PreviewParams = Strict({ match: Type.Optional(StringEnum(SEGMENT_MATCH, { default: "all" })), conditions: Conditions });

type Conditions = Static<typeof Conditions>;

export function presentSegment(s: Segment) {
	return {
		id: s._id,
		merchantId: s.merchantId,
		name: s.name,
		description: s.description ?? "",
		match: s.match ?? "all",
		conditions: (s.conditions ?? []).map(c => ({
			field: c.field,
			operator: c.operator,
			...(c.value === null || c.value === undefined ? {} : { value: c.value }),
		})),
		createdAt: (s as { createdAt?: Date }).createdAt ?? null,
		updatedAt: (s as { updatedAt?: Date }).updatedAt ?? null,
	};
}

const SegmentsService = defineService<TenantMethods>()({
	name: "segments",
	mixins: [DbMixin([SegmentModel]), TenantMixin],
	settings: { rest: "/" },

	methods: {
		async evaluateQuery(query: Record<string, unknown>) {
			const [contactCount, sample] = await Promise.all([
				ContactModel.countDocuments(query),
				ContactModel.find(query, { _id: 1, username: 1, displayName: 1 })
					.sort({ lastInteractionAt: -1, _id: 1 })
					.limit(SAMPLE_SIZE)
					.lean<Pick<Contact, "_id" | "username" | "displayName">[]>(),
			]);
			return {
				contactCount,
				sampleContacts: sample.map(c => ({ id: c._id, username: c.username ?? "", displayName: c.displayName ?? "" })),
			};
		},
	},

	actions: {
		create: {
			rest: "POST /segments",
			params: CreateParams,
			async handler(ctx: TenantContext<Static<typeof CreateParams>>) {
				const { name, description, conditions } = ctx.params;
				const match = ctx.params.match ?? "all";
				compileConditions(conditions, match); // 422 naming each bad condition, before anything is stored
				const doc = new SegmentModel({
					merchantId: this.merchantOf(ctx),
					name: name.trim(),
					description: description ?? "",
					match,
					conditions,
				});
				await doc.save();
				return presentSegment(doc.toObject({ transform: false }) as unknown as Segment);
			},
		},

		list: {
			rest: "GET /segments",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const search = ctx.params.search?.trim();
				const query = { name: search ? { $regex: escapeRegex(search), $options: "i" } : undefined };
				return this.findPage(ctx, SegmentModel, { query, sort: { createdAt: -1, _id: 1 } }, ctx.params, (rows: Segment[]) =>
					rows.map(presentSegment)
				);
			},
		},

		get: {
			rest: "GET /segments/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				return presentSegment(await this.findOwned(ctx, SegmentModel, ctx.params.id, "Segment"));
			},
		},

		update: {
			rest: "PUT /segments/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, name, description, match, conditions } = ctx.params;
				const current: Segment = await this.findOwned(ctx, SegmentModel, id, "Segment");
				const next = { conditions: conditions ?? current.conditions, match: (match ?? current.match ?? "all") as SegmentMatch };
				compileConditions(next.conditions, next.match);
				const $set: Record<string, unknown> = { match: next.match };
				if (conditions) $set.conditions = conditions;
				if (name !== undefined) $set.name = name.trim();
				if (description !== undefined) $set.description = description;
				await SegmentModel.updateOne(this.scoped(ctx, { _id: id }), { $set });
				return presentSegment(await this.findOwned(ctx, SegmentModel, id, "Segment"));
			},
		},

		remove: {
			rest: "DELETE /segments/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				await this.findOwned(ctx, SegmentModel, id, "Segment");
				const answers = await askProviders<{ inUse: boolean; usedBy?: unknown[] }>(ctx, "segmentInUse", { segmentId: id });
				const usedBy = Object.values(answers).flatMap(a => (a?.inUse ? (a.usedBy ?? [{}]) : []));
				if (usedBy.length) throw new ConflictError("The segment is used by an active campaign", "SEGMENT_IN_USE", { usedBy });
				await SegmentModel.deleteOne(this.scoped(ctx, { _id: id }));
				return { id, deleted: true };
			},
		},

		evaluate: {
			rest: "POST /segments/:id/evaluate",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const segment: Segment = await this.findOwned(ctx, SegmentModel, ctx.params.id, "Segment");
				return { segmentId: segment._id, ...(await this.evaluateQuery(segmentQuery(this.merchantOf(ctx), segment))) };
			},
		},

		preview: {
			rest: "POST /segments/evaluate",
			params: PreviewParams,
			async handler(ctx: TenantContext<Static<typeof PreviewParams>>) {
				const { conditions, match = "all" } = ctx.params;
				return { segmentId: null, ...(await this.evaluateQuery(segmentQuery(this.merchantOf(ctx), { conditions, match }))) };
			},
		},
	},
});

export default SegmentsService;
