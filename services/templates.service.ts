import { Type, type Static } from "@sinclair/typebox";
import { TemplateModel, TEMPLATE_TYPES, type Template, type TemplateType } from "../models/template.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { call } from "../lib/calls.ts";
import { PageParams } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ApiError, ConflictError, ValidationFailedError, type ErrorDetail } from "../lib/errors.ts";
import { escapeRegex } from "../lib/regex.ts";
import { askProviders } from "../lib/providers.ts";
import { renderTemplate, type RenderContact } from "./templates/render.ts";
import { MAX_MESSAGE_LENGTH } from "../lib/x/message.ts";
import { templateProblems, variablesOf, type TemplateDraft } from "./templates/validate.ts";

// Message templates. Rendering lives in ./templates/render.ts (one function for the preview,
// campaigns and flows); other services read a template with `templates.get` (merchant in meta).

const Option = Strict({
	label: Type.String({ minLength: 1, maxLength: 100 }),
	description: Type.Optional(Type.String({ maxLength: 200 })),
});
const Button = Strict({ label: Type.String({ minLength: 1, maxLength: 100 }), url: Type.String({ minLength: 1, maxLength: 2000 }) });
const Card = Strict({
	title: Type.String({ minLength: 1, maxLength: 200 }),
	text: Type.Optional(Type.String({ maxLength: 2000 })),
	imageUrl: Type.Optional(Type.String({ maxLength: 2000 })),
	buttons: Type.Optional(Type.Array(Button, { maxItems: 3 })),
});
const Fields = {
	name: Type.String({ minLength: 1, maxLength: 100 }),
	type: StringEnum(TEMPLATE_TYPES),
	content: Type.String({ maxLength: 10_000 }),
	variables: Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 }),
	options: Type.Array(Option, { minItems: 1, maxItems: 20 }),
	card: Card,
};

const CreateParams = Strict({
	name: Fields.name,
	type: Type.Optional(StringEnum(TEMPLATE_TYPES, { default: "text" })),
	content: Type.Optional(Fields.content),
	variables: Type.Optional(Fields.variables),
	options: Type.Optional(Fields.options),
	card: Type.Optional(Fields.card),
});
const UpdateParams = Strict({
	id: Id(),
	name: Type.Optional(Fields.name),
	type: Type.Optional(Fields.type),
	content: Type.Optional(Fields.content),
	variables: Type.Optional(Fields.variables),
	options: Type.Optional(Fields.options),
	card: Type.Optional(Fields.card),
});
const ListParams = Strict({
	type: Type.Optional(StringEnum(TEMPLATE_TYPES)),
	search: Type.Optional(Type.String({ maxLength: 100, description: "substring of the name, any case" })),
	...PageParams,
});
const IdParams = Strict({ id: Id() });
const PreviewParams = Strict({
	id: Id(),
	variables: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
	contactId: Type.Optional(Id()),
});

export function presentTemplate(t: Template) {
	return {
		id: t._id,
		merchantId: t.merchantId,
		name: t.name,
		type: t.type,
		content: t.content ?? "",
		variables: t.variables ?? [],
		...(t.type === "quick_reply" ? { options: (t.options ?? []).map(o => ({ label: o.label, description: o.description ?? null })) } : {}),
		...(t.type === "card" && t.card
			? {
					card: {
						title: t.card.title,
						text: t.card.text ?? "",
						imageUrl: t.card.imageUrl ?? null,
						buttons: (t.card.buttons ?? []).map(b => ({ label: b.label, url: b.url })),
					},
				}
			: {}),
		createdAt: (t as { createdAt?: Date }).createdAt ?? null,
		updatedAt: (t as { updatedAt?: Date }).updatedAt ?? null,
	};
}

/** The fields to store: checked as a whole, with what does not belong to the type left out. */
function toStored(draft: TemplateDraft, provided: Partial<Record<"options" | "card", unknown>>) {
	const problems: ErrorDetail[] = templateProblems(draft);
	if (draft.type !== "quick_reply" && provided.options !== undefined)
		problems.push({ field: "options", message: "only quick_reply templates have options" });
	if (draft.type !== "card" && provided.card !== undefined) problems.push({ field: "card", message: "only card templates have a card" });
	if (problems.length) throw new ValidationFailedError(problems);
	return {
		name: draft.name.trim(),
		type: draft.type as TemplateType,
		content: draft.content ?? "",
		variables: variablesOf(draft),
		options: draft.type === "quick_reply" ? (draft.options ?? undefined) : undefined,
		card: draft.type === "card" ? (draft.card ?? undefined) : undefined,
	};
}

/** MongoDB says 11000; FerretDB 1.x says so on insert but reports an update's clash as its backend's (SQLite's, PostgreSQL's 23505). */
const isDuplicateKey = (err: unknown) => {
	const e = err as { code?: number; message?: string };
	return e.code === 11000 || (typeof e.message === "string" && /UNIQUE constraint failed|\(SQLSTATE 23505\)/.test(e.message));
};
const nameTaken = () =>
	new ConflictError("A template with this name already exists", "CONFLICT", {
		field: "name",
		message: "is already used by another template",
	});

const TemplatesService = defineService<TenantMethods>()({
	name: "templates",
	mixins: [DbMixin([TemplateModel]), TenantMixin],
	settings: { rest: "/" },

	actions: {
		create: {
			rest: "POST /templates",
			params: CreateParams,
			async handler(ctx: TenantContext<Static<typeof CreateParams>>) {
				const p = ctx.params;
				const stored = toStored({ ...p, type: p.type ?? "text" }, p);
				try {
					const doc = new TemplateModel({ ...stored, merchantId: this.merchantOf(ctx) });
					await doc.save();
					return presentTemplate(doc.toObject({ transform: false }) as unknown as Template);
				} catch (err) {
					if (isDuplicateKey(err)) throw nameTaken();
					throw err;
				}
			},
		},

		list: {
			rest: "GET /templates",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const { type, search } = ctx.params;
				const query = { type: type || undefined, name: search?.trim() ? { $regex: escapeRegex(search.trim()), $options: "i" } : undefined };
				return this.findPage(ctx, TemplateModel, { query, sort: { createdAt: -1, _id: 1 } }, ctx.params, (rows: Template[]) =>
					rows.map(presentTemplate)
				);
			},
		},

		get: {
			rest: "GET /templates/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				return presentTemplate(await this.findOwned(ctx, TemplateModel, ctx.params.id, "Template"));
			},
		},

		update: {
			rest: "PUT /templates/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, ...changes } = ctx.params;
				const current: Template = await this.findOwned(ctx, TemplateModel, id, "Template");
				const draft: TemplateDraft = {
					name: changes.name ?? current.name,
					type: changes.type ?? current.type ?? "text",
					content: changes.content ?? current.content,
					options: changes.options ?? current.options,
					card: changes.card ?? current.card,
					// a new text without a new list re-reads the placeholders (the contract's own update example)
					variables:
						changes.variables ?? (changes.content !== undefined || changes.options || changes.card ? undefined : current.variables),
				};
				const stored = toStored(draft, changes);
				const $unset: Record<string, ""> = {};
				if (stored.options === undefined) $unset.options = "";
				if (stored.card === undefined) $unset.card = "";
				const { options, card, ...rest } = stored;
				const $set = { ...rest, ...(options ? { options } : {}), ...(card ? { card } : {}) };
				try {
					await TemplateModel.updateOne(this.scoped(ctx, { _id: id }), Object.keys($unset).length ? { $set, $unset } : { $set });
				} catch (err) {
					if (isDuplicateKey(err)) throw nameTaken();
					throw err;
				}
				return presentTemplate(await this.findOwned(ctx, TemplateModel, id, "Template"));
			},
		},

		remove: {
			rest: "DELETE /templates/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				await this.findOwned(ctx, TemplateModel, id, "Template");
				// Campaigns and flows own their rows; each answers through `<service>.templateInUse`.
				const answers = await askProviders<{ inUse: boolean; usedBy?: unknown[] }>(ctx, "templateInUse", { templateId: id });
				const usedBy = Object.values(answers).flatMap(a => (a?.inUse ? (a.usedBy ?? [{}]) : []));
				if (usedBy.length) throw new ConflictError("The template is used by an active campaign or flow", "TEMPLATE_IN_USE", { usedBy });
				await TemplateModel.deleteOne(this.scoped(ctx, { _id: id }));
				return { id, deleted: true };
			},
		},

		preview: {
			rest: "POST /templates/:id/preview",
			params: PreviewParams,
			async handler(ctx: TenantContext<Static<typeof PreviewParams>>) {
				const { id, variables = {}, contactId } = ctx.params;
				const template: Template = await this.findOwned(ctx, TemplateModel, id, "Template");
				const problems: ErrorDetail[] = [];
				for (const [name, value] of Object.entries(variables)) {
					if (!["string", "number", "boolean"].includes(typeof value))
						problems.push({ field: `variables.${name}`, message: "must be a string, number or boolean" });
				}
				let contact: RenderContact | undefined;
				if (contactId) {
					// the contacts service owns contacts; another merchant's id reads as missing there
					contact = await call(ctx, "contacts.get", { id: contactId }).catch((err: { type?: string }) => {
						if (err?.type === "NOT_FOUND") return undefined;
						throw err;
					});
					if (!contact) problems.push({ field: "contactId", message: "no such contact" });
				}
				if (problems.length) throw new ValidationFailedError(problems);
				const rendered = renderTemplate(template, { contact, variables });
				if (rendered.missing.length) {
					throw new ValidationFailedError(
						rendered.missing.map(name => ({ field: `variables.${name}`, message: "is required" })),
						`Missing variables: ${rendered.missing.join(", ")}`
					);
				}
				if (rendered.text.length > MAX_MESSAGE_LENGTH) {
					throw new ApiError(`The rendered message has ${rendered.text.length} characters`, 422, "MESSAGE_TOO_LONG", [
						{ field: "rendered", message: `must be at most ${MAX_MESSAGE_LENGTH} characters` },
					]);
				}
				return { rendered: rendered.text, mediaUrl: rendered.mediaUrl, length: rendered.text.length };
			},
		},
	},
});

export default TemplatesService;
