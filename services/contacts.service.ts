import type { ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { ContactModel, type Contact } from "../models/contact.model.ts";
import { ConversationModel } from "../models/conversation.model.ts";
import { MessageModel } from "../models/message.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext } from "../mixins/tenant.mixin.ts";
import { PageParams, pageOf, paged } from "../lib/pagination.ts";
import { Id, Strict } from "../lib/schema.ts";
import { ValidationFailedError, type ErrorDetail } from "../lib/errors.ts";
import { askProviders } from "../lib/providers.ts";
import { attributeUpdate, planAttributeChanges } from "./contacts/attributes.ts";
import { averageResponse, presentContact, presentContactDetail } from "./contacts/present.ts";
import { contactFilter } from "./contacts/query.ts";
import { csvStream } from "./contacts/csv.ts";

// Contacts are created by the X inbox; this service lists, edits, exports and erases them.
// Opt-out keywords: ./contacts/opt-out.ts (isOptOutMessage), called by the inbox, which then
// calls `contacts.optOut` with the merchant in ctx.meta like any other caller.

const MAX_TAGS = 100;
const EXPORT_PAGE = 500;

const Filters = {
	accountId: Type.Optional(Id()),
	tags: Type.Optional(Type.String({ maxLength: 1000, description: "comma separated; a contact must have all of them" })),
	search: Type.Optional(Type.String({ maxLength: 100, description: "substring of username or display name, any case" })),
};
const Attributes = Type.Record(Type.String(), Type.Unknown(), { description: "flat map; null removes a key" });

const ListParams = Strict({ ...Filters, ...PageParams });
const ExportParams = Strict(Filters);
const IdParams = Strict({ id: Id() });
const UpdateParams = Strict({
	id: Id(),
	displayName: Type.Optional(Type.String({ maxLength: 200 })),
	attributes: Type.Optional(Attributes),
});
const AttributesParams = Strict({ id: Id(), attributes: Attributes });
const TagsParams = Strict({ id: Id(), tags: Type.Array(Type.String({ maxLength: 100 }), { minItems: 1, maxItems: 50 }) });
const TagParams = Strict({ id: Id(), tagName: Type.String({ minLength: 1, maxLength: 100 }) });

type ExportMeta = { $responseType?: string; $responseHeaders?: Record<string, string> };

/** Trimmed, distinct, usable as a filter (GET /contacts?tags=a,b splits on commas). */
function cleanTags(tags: string[]): { tags: string[]; problems: ErrorDetail[] } {
	const problems: ErrorDetail[] = [];
	const out: string[] = [];
	tags.forEach((raw, i) => {
		const tag = raw.trim();
		if (!tag) problems.push({ field: `tags[${i}]`, message: "must not be empty" });
		else if (tag.includes(",")) problems.push({ field: `tags[${i}]`, message: "must not contain a comma" });
		else if (!out.includes(tag)) out.push(tag);
	});
	return { tags: out, problems };
}

const ContactsService: ServiceSchema = {
	name: "contacts",
	mixins: [DbMixin([ContactModel]), TenantMixin],
	settings: { rest: "/" },

	actions: {
		list: {
			rest: "GET /contacts",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const filter = this.scoped(ctx, contactFilter(ctx.params));
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					ContactModel.find(filter).sort({ lastInteractionAt: -1, _id: 1 }).skip(skip).limit(take).lean<Contact[]>(),
					ContactModel.countDocuments(filter),
				]);
				return paged(rows.map(presentContact), total, ctx.params);
			},
		},

		export: {
			rest: "GET /contacts/export",
			params: ExportParams,
			async handler(ctx: TenantContext<Static<typeof ExportParams>>) {
				const filter = this.scoped(ctx, contactFilter(ctx.params));
				const meta = ctx.meta as TenantContext["meta"] & ExportMeta;
				meta.$responseType = "text/csv; charset=utf-8";
				meta.$responseHeaders = { "Content-Disposition": `attachment; filename="contacts-${new Date().toISOString().slice(0, 10)}.csv"` };
				// Keyset pages in id order: each page is one indexed query, whatever the size of the list.
				return csvStream(after =>
					ContactModel.find(after ? { ...filter, _id: { $gt: after } } : filter)
						.sort({ _id: 1 })
						.limit(EXPORT_PAGE)
						.lean<Contact[]>()
				);
			},
		},

		get: {
			rest: "GET /contacts/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const contact = await this.findOwned(ctx, ContactModel, ctx.params.id, "Contact");
				return this.detail(contact);
			},
		},

		update: {
			rest: "PUT /contacts/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, displayName, attributes } = ctx.params;
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				const update: Record<string, Record<string, unknown>> = {};
				if (attributes) {
					const { problems, changes } = planAttributeChanges(attributes, Object.keys(contact.attributes ?? {}));
					if (problems.length) throw new ValidationFailedError(problems);
					Object.assign(update, attributeUpdate(changes));
				}
				if (displayName !== undefined) update.$set = { ...update.$set, displayName: displayName.trim() };
				if (Object.keys(update).length) await ContactModel.updateOne(this.scoped(ctx, { _id: id }), update);
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		setAttributes: {
			rest: "PUT /contacts/:id/attributes",
			params: AttributesParams,
			async handler(ctx: TenantContext<Static<typeof AttributesParams>>) {
				const { id, attributes } = ctx.params;
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				const { problems, changes } = planAttributeChanges(attributes, Object.keys(contact.attributes ?? {}));
				if (problems.length) throw new ValidationFailedError(problems);
				const update = attributeUpdate(changes);
				if (Object.keys(update).length) await ContactModel.updateOne(this.scoped(ctx, { _id: id }), update);
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		addTags: {
			rest: "POST /contacts/:id/tags",
			params: TagsParams,
			async handler(ctx: TenantContext<Static<typeof TagsParams>>) {
				const { id } = ctx.params;
				const { tags, problems } = cleanTags(ctx.params.tags);
				if (problems.length) throw new ValidationFailedError(problems);
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				const added = tags.filter(t => !(contact.tags ?? []).includes(t));
				if ((contact.tags ?? []).length + added.length > MAX_TAGS) {
					throw new ValidationFailedError([{ field: "tags", message: `a contact has at most ${MAX_TAGS} tags` }]);
				}
				// $addToSet keeps each tag once even when two requests add it at the same time.
				if (added.length) await ContactModel.updateOne(this.scoped(ctx, { _id: id }), { $addToSet: { tags: { $each: added } } });
				for (const tag of added) ctx.emit("contact.tagAdded", { merchantId: contact.merchantId, contactId: id, tag });
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		removeTag: {
			rest: "DELETE /contacts/:id/tags/:tagName",
			params: TagParams,
			async handler(ctx: TenantContext<Static<typeof TagParams>>) {
				const { id } = ctx.params;
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				const tag = ctx.params.tagName.trim();
				if ((contact.tags ?? []).includes(tag)) {
					await ContactModel.updateOne(this.scoped(ctx, { _id: id }), { $pull: { tags: tag } });
					ctx.emit("contact.tagRemoved", { merchantId: contact.merchantId, contactId: id, tag });
				}
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		optOut: {
			rest: "POST /contacts/:id/opt-out",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				await this.findOwned(ctx, ContactModel, id, "Contact");
				const at = new Date();
				// Only the first opt-out sets the time (and announces it); repeating it changes nothing.
				const res = await ContactModel.updateOne(this.scoped(ctx, { _id: id, optedOut: { $ne: true } }), {
					$set: { optedOut: true, optedOutAt: at, optedIn: false },
				});
				if (res.modifiedCount > 0) ctx.emit("contact.optedOut", { merchantId: this.merchantOf(ctx), contactId: id, at: at.toISOString() });
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		optIn: {
			rest: "POST /contacts/:id/opt-in",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				if (contact.optedOut || !contact.optedIn) {
					await ContactModel.updateOne(this.scoped(ctx, { _id: id }), { $set: { optedOut: false, optedOutAt: null, optedIn: true } });
					ctx.emit("contact.optedIn", { merchantId: contact.merchantId, contactId: id, at: new Date().toISOString() });
				}
				return this.detail(await this.findOwned(ctx, ContactModel, id, "Contact"));
			},
		},

		remove: {
			rest: "DELETE /contacts/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				const merchantId = this.merchantOf(ctx);
				await this.findOwned(ctx, ContactModel, id, "Contact");
				const erased: Record<string, number> = { conversations: 0, messages: 0, contacts: 0 };
				// Rows other services keep about the contact (campaign deliveries, flow runs): each
				// service that keeps some declares `<service>.eraseContact` and reports its counts.
				const answers = await askProviders<Record<string, number>>(ctx, "eraseContact", { merchantId, contactId: id });
				for (const counts of Object.values(answers)) {
					for (const [kind, n] of Object.entries(counts ?? {})) if (typeof n === "number") erased[kind] = (erased[kind] ?? 0) + n;
				}
				// Dependents first and the contact last, then once more: a message that arrived
				// meanwhile must not outlive the erasure, and a failure half-way can be retried.
				const sweep = async () => {
					erased.messages += (await MessageModel.deleteMany({ merchantId, contactId: id })).deletedCount;
					erased.conversations += (await ConversationModel.deleteMany({ merchantId, contactId: id })).deletedCount;
				};
				await sweep();
				erased.contacts += (await ContactModel.deleteOne({ _id: id, merchantId })).deletedCount;
				await sweep();
				ctx.emit("contact.erased", { merchantId, contactId: id });
				return { id, erased };
			},
		},
	},

	methods: {
		/** The detail view: engagement counted from the messages themselves. */
		async detail(contact: Contact) {
			const conversations = await ConversationModel.find({ merchantId: contact.merchantId, contactId: contact._id }, { _id: 1 }).lean<{ _id: string }[]>();
			const conversationId = { $in: conversations.map(c => c._id) };
			const [messagesSent, messagesReceived] = conversations.length
				? await Promise.all([
						MessageModel.countDocuments({ merchantId: contact.merchantId, conversationId, direction: "outbound", status: { $in: ["sent", "read"] } }),
						MessageModel.countDocuments({ merchantId: contact.merchantId, conversationId, direction: "inbound" }),
					])
				: [0, 0];
			return presentContactDetail(contact, {
				messagesSent,
				messagesReceived,
				...averageResponse(contact.responseTimeTotalSeconds, contact.responseCount),
			});
		},
	},
};

export default ContactsService;
