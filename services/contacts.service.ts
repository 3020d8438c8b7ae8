import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { ContactModel, contactSearchFields, type Contact } from "../models/contact.model.ts";
import { ContactActivityDayModel } from "../models/contact-activity-day.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type RequestMeta, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { call } from "../lib/calls.ts";
import { CursorParams, MAX_TAKE, PageParams } from "../lib/pagination.ts";
import { CONVERSATION_STATUSES } from "../models/conversation.model.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ValidationFailedError, type ErrorDetail } from "../lib/errors.ts";
import { askProviders, providersOf } from "../lib/providers.ts";
import { attributeUpdate, planAttributeChanges } from "./contacts/attributes.ts";
import { averageResponse, presentContact, presentContactDetail } from "./contacts/present.ts";
import {
	ensureFromInbound,
	recordActivity,
	reconcileActivity,
	InboundPeopleParams,
	ActivityParams,
	ReconcileActivityParams,
} from "./contacts/inbound.ts";
import { contactFilter, selectiveContactFilter } from "./contacts/query.ts";
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

const ListParams = Strict({ ...Filters, ...PageParams, ...CursorParams });
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
const ConversationsParams = Strict({ id: Id(), status: Type.Optional(StringEnum(CONVERSATION_STATUSES)), ...PageParams });
const NamesOfParams = Strict({ ids: Type.Array(Id(), { maxItems: MAX_TAKE }) });

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

const ContactsService = defineService<TenantMethods>()({
	name: "contacts",
	mixins: [DbMixin([ContactModel, ContactActivityDayModel]), TenantMixin],
	settings: { rest: "/" },

	methods: {
		/** The detail view; the activity figures are kept by the inbox's writer through recordActivity. */
		detail(contact: Contact) {
			return presentContactDetail(contact, {
				messagesSent: contact.messagesSent ?? 0,
				messagesReceived: contact.messagesReceived ?? 0,
				...averageResponse(contact.responseTimeTotalSeconds, contact.responseCount),
			});
		},
	},

	actions: {
		list: {
			rest: "GET /contacts",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				// Latest interaction first, walked by day and hour of activity (lib/activity-buckets.ts).
				const list = {
					list: "contacts",
					model: ContactModel,
					days: ContactActivityDayModel,
					query: contactFilter(ctx.params),
					leaf: selectiveContactFilter(ctx.params) ? "d" : "h",
				} as const;
				return this.findActivityPage(ctx, list, ctx.params, (rows: Contact[]) => rows.map(presentContact));
			},
		},

		export: {
			rest: "GET /contacts/export",
			params: ExportParams,
			async handler(ctx: Context<Static<typeof ExportParams>, RequestMeta & ExportMeta>) {
				const filter = this.scoped(ctx, contactFilter(ctx.params));
				const { meta } = ctx;
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
				if (displayName !== undefined)
					update.$set = { ...update.$set, displayName: displayName.trim(), ...contactSearchFields(contact.username, displayName.trim()) };
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

		/**
		 * Internal (the inbox's writer of an account): the contacts of the X users who wrote, created
		 * when new, their profile kept current. By X user id: `{ contactId, created }`.
		 */
		ensureFromInbound: {
			visibility: "public",
			params: InboundPeopleParams,
			handler(ctx: TenantContext<Static<typeof InboundPeopleParams>>) {
				return ensureFromInbound({ ...ctx.params, merchantId: this.merchantOf(ctx) });
			},
		},

		/** Internal (the inbox's writer of an account, their only writer): activity figures. */
		recordActivity: {
			visibility: "public",
			params: ActivityParams,
			handler(ctx: TenantContext<Static<typeof ActivityParams>>) {
				return recordActivity({ ...ctx.params, merchantId: this.merchantOf(ctx) });
			},
		},

		/** Internal (`npm run inbox:reconcile`): compares the figures with a recount; with `fix`, sets them. */
		reconcileActivity: {
			visibility: "public",
			params: ReconcileActivityParams,
			handler(ctx: TenantContext<Static<typeof ReconcileActivityParams>>) {
				return reconcileActivity(ctx.params);
			},
		},

		/** The inbox's data about a contact, under the contacts route the contract gives it; the contact is checked here. */
		conversations: {
			rest: "GET /contacts/:id/conversations",
			params: ConversationsParams,
			async handler(ctx: TenantContext<Static<typeof ConversationsParams>>) {
				const { id, ...rest } = ctx.params;
				await this.findOwned(ctx, ContactModel, id, "Contact", { merchantId: 1 });
				return call(ctx, "inbox.conversationsOf", { contactId: id, ...rest });
			},
		},

		/** Internal (the inbox's lists): username and display name of the caller's contacts, by id. */
		namesOf: {
			visibility: "public",
			params: NamesOfParams,
			async handler(ctx: TenantContext<Static<typeof NamesOfParams>>) {
				// One lookup by id each, at once: the embedded FerretDB pushes no `$in` down, so
				// `{_id: {$in}, merchantId}` read every contact of the merchant (docs/embedded-engine.md).
				const ids = [...new Set(ctx.params.ids)];
				const rows = await Promise.all(
					ids.map(id => ContactModel.findOne(this.scoped(ctx, { _id: id }), { username: 1, displayName: 1 }).lean<Contact>())
				);
				return Object.fromEntries(rows.filter(c => c !== null).map(c => [c._id, { username: c.username, displayName: c.displayName }]));
			},
		},

		remove: {
			rest: "DELETE /contacts/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				const merchantId = this.merchantOf(ctx);
				const contact: Contact = await this.findOwned(ctx, ContactModel, id, "Contact");
				const erased: Record<string, number> = { conversations: 0, messages: 0, contacts: 0 };
				// Rows other services keep about the contact (messages and conversations, campaign
				// deliveries, flow runs, raw webhook deliveries): each service that keeps some declares
				// `<service>.eraseContact` and reports its counts. Asked again after the contact is
				// gone, the inbox once more: a message that arrived meanwhile must not outlive the
				// erasure. A failure half-way can be retried.
				const params = { contactId: id, accountId: contact.accountId, twitterUserId: contact.twitterUserId };
				const count = (answers: Record<string, Record<string, number>>) => {
					for (const counts of Object.values(answers)) {
						for (const [kind, n] of Object.entries(counts ?? {})) if (typeof n === "number") erased[kind] = (erased[kind] ?? 0) + n;
					}
				};
				count(await askProviders<Record<string, number>>(ctx, "eraseContact", params));
				erased.contacts += (await ContactModel.deleteOne({ _id: id, merchantId })).deletedCount;
				if (providersOf(ctx, "eraseContact").includes("inbox.eraseContact"))
					count({ inbox: await call(ctx, "inbox.eraseContact", params) });
				ctx.emit("contact.erased", { merchantId, contactId: id });
				return { id, erased };
			},
		},
	},
});

export default ContactsService;
