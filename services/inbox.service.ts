import { Type, type Static } from "@sinclair/typebox";
import { ConversationModel, CONVERSATION_STATUSES, type Conversation } from "../models/conversation.model.ts";
import { MessageModel, type Message } from "../models/message.model.ts";
import { IdempotencyKeyModel } from "../models/idempotency-key.model.ts";
import { InboxActivityModel, type InboxActivity } from "../models/inbox-activity.model.ts";
import { PartitionLeaseModel } from "../models/partition-lease.model.ts";
import { ConversationActivityDayModel } from "../models/conversation-activity-day.model.ts";
import { PartitionWorkerMixin, type PartitionQueue, type QueueBacklog } from "../mixins/partition-worker.mixin.ts";
import { ACTIVITY_QUEUED, dmRows, enqueue } from "./inbox/activity.ts";
import { inboxQueue } from "./inbox/queue.ts";
import { Tenures, TENURES_STALE } from "./inbox/tenure.ts";
import { ACTIONS_APPLIED, actionsApplied, requestAction } from "./inbox/conversation-actions.ts";
import { EnqueueParams, ReconcileParams, reconcile } from "./inbox/reconcile.ts";
import { eraseContactThreads } from "./inbox/erase.ts";
import { config } from "../lib/config.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, merchantOf, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { call } from "../lib/calls.ts";
import type { Lease } from "../lib/partition-lease.ts";
import { CursorParams, PageParams } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { BadRequestError, ConflictError, ValidationFailedError } from "../lib/errors.ts";
import { presentConversation, presentMessage, messageCursor, readCursor } from "./inbox/present.ts";
import { sendInConversation, sendToContact } from "./inbox/send.ts";
import { checkMediaUrl } from "../lib/x/media.ts";
import { sendBatch, type SendRequest } from "./inbox/pipeline.ts";
import { MAX_MESSAGE_LENGTH, MAX_SEND_BATCH } from "../lib/x/message.ts";

// The shared inbox: conversations and their messages. What X delivers (queued by the webhooks
// service through `enqueue`) and what our senders got through are applied by the one writer of
// each X account (the partition worker below; docs/ingest.md). Every DM goes out through the send
// pipeline (inbox/pipeline.ts): agents through sendMessage, the bot and flows through
// sendToContact, campaigns through sendBatch.

const ListParams = Strict({
	accountId: Type.Optional(Id()),
	status: Type.Optional(StringEnum(CONVERSATION_STATUSES)),
	assignedTo: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
	needsHuman: Type.Optional(Type.Boolean({ description: "only conversations the bot escalated to a human" })),
	...PageParams,
	...CursorParams,
});
const GetParams = Strict({
	id: Id(),
	includeMessages: Type.Optional(Type.Boolean({ default: true })),
	messagesLimit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
	messagesAfter: Type.Optional(Type.String({ maxLength: 200, description: "cursor from messagesCursor" })),
});
const CloseParams = Strict({ id: Id(), reason: Type.Optional(Type.String({ maxLength: 200 })) });
const AssignParams = Strict({ id: Id(), userId: Type.String({ minLength: 1, maxLength: 100 }) });
const SendParams = Strict({
	id: Id(),
	// The 10,000-character limit is X's and answers 400 MESSAGE_TOO_LONG (the contract), checked below.
	content: Type.String({ minLength: 1, maxLength: 200_000 }),
	type: Type.Optional(StringEnum(["text", "image"] as const)),
	attachments: Type.Optional(
		Type.Array(
			Strict({ type: StringEnum(["image"] as const), url: Type.String({ format: "uri", maxLength: 2000, pattern: "^https?://" }) }),
			{ maxItems: 1 }
		)
	),
});
const ConversationsOfParams = Strict({ contactId: Id(), status: Type.Optional(StringEnum(CONVERSATION_STATUSES)), ...PageParams });
const SendToContactParams = Type.Object({
	contactId: Type.String({ minLength: 1 }),
	content: Type.String({ minLength: 1, maxLength: MAX_MESSAGE_LENGTH }),
	origin: Type.String({ pattern: "^(bot|campaign:.+|flow:.+)$" }),
	imageUrl: Type.Optional(Type.String({ maxLength: 2000 })),
	idempotencyKey: Type.Optional(Type.String({ maxLength: 300 })),
});
const SendBatchParams = Type.Object({
	origin: Type.String({ pattern: "^(bot|campaign:.+|flow:.+)$" }),
	items: Type.Array(
		Type.Object({
			key: Type.String({ minLength: 1, maxLength: 300 }),
			contactId: Type.String({ minLength: 1 }),
			content: Type.String({ minLength: 1, maxLength: MAX_MESSAGE_LENGTH }),
			imageUrl: Type.Optional(Type.String({ maxLength: 2000 })),
			idempotencyKey: Type.Optional(Type.String({ maxLength: 300 })),
		}),
		{ minItems: 1, maxItems: MAX_SEND_BATCH }
	),
});
const EscalateParams = Type.Object({ conversationId: Type.String(), reason: Type.String({ maxLength: 200 }) });
const EraseParams = Type.Object({
	contactId: Type.String(),
	accountId: Type.Optional(Type.String()),
	twitterUserId: Type.Optional(Type.String()),
});

/** What `created()` sets on the service: the queue its partition worker drains. */
type InboxFields = { queue: PartitionQueue<InboxActivity>; tenures: Tenures };

const InboxService = defineService<TenantMethods & InboxFields>()({
	name: "inbox",
	mixins: [
		DbMixin([ConversationModel, MessageModel, IdempotencyKeyModel, InboxActivityModel, PartitionLeaseModel, ConversationActivityDayModel]),
		TenantMixin,
		PartitionWorkerMixin({
			queue: "inbox",
			wakeEvent: ACTIVITY_QUEUED,
			wakePartitions: payload => (payload as { accountIds?: string[] })?.accountIds ?? null,
			tuning: () => ({ concurrency: config().inbox.writers, batchSize: config().inbox.batchSize }),
		}),
	],

	created() {
		this.tenures = new Tenures();
		this.queue = inboxQueue(this.broker, new Set(), this.tenures);
	},
	settings: { rest: "/" },

	methods: {
		// Return types written out: they are read from `this` (see lib/service.ts).
		pendingPartitions(limit: number): Promise<string[]> {
			return this.queue.pendingPartitions(limit);
		},
		takeBatch(partition: string, limit: number): Promise<InboxActivity[]> {
			return this.queue.takeBatch(partition, limit);
		},
		applyBatch(partition: string, rows: InboxActivity[], lease: Lease): Promise<void> {
			return this.queue.applyBatch(partition, rows, lease);
		},
		failBatch(partition: string, rows: InboxActivity[], error: Error): Promise<void> {
			return this.queue.failBatch(partition, rows, error);
		},
		backlog(): Promise<QueueBacklog> {
			return this.queue.backlog();
		},
	},

	actions: {
		list: {
			rest: "GET /conversations",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const { accountId, status, assignedTo, needsHuman } = ctx.params;
				const query = {
					accountId: accountId || undefined,
					status: status || undefined,
					assignedToUserId: assignedTo || undefined,
					needsHuman,
				};
				// Latest message first (the start when none yet), walked by day and hour of activity
				// (lib/activity-buckets.ts); an assignee or the escalated ones are few: whole days.
				const list = {
					list: "conversations",
					model: ConversationModel,
					days: ConversationActivityDayModel,
					query,
					leaf: assignedTo || needsHuman ? "d" : "h",
				} as const;
				return this.findActivityPage(ctx, list, ctx.params, async (rows: Conversation[]) => {
					const names = await call(ctx, "contacts.namesOf", { ids: [...new Set(rows.map(r => r.contactId))] });
					return rows.map(r => presentConversation(r, names[r.contactId] ?? null));
				});
			},
		},

		get: {
			rest: "GET /conversations/:id",
			params: GetParams,
			async handler(ctx: TenantContext<Static<typeof GetParams>>) {
				const conversation: Conversation = await this.findOwned(ctx, ConversationModel, ctx.params.id, "Conversation");
				const names = await call(ctx, "contacts.namesOf", { ids: [conversation.contactId] });
				const result: Record<string, unknown> = presentConversation(conversation, names[conversation.contactId] ?? null);
				if (ctx.params.includeMessages !== false) {
					const limit = ctx.params.messagesLimit ?? 50;
					const after = ctx.params.messagesAfter ? readCursor(ctx.params.messagesAfter) : null;
					if (ctx.params.messagesAfter && !after)
						throw new ValidationFailedError([{ field: "messagesAfter", message: "is not a valid cursor" }]);
					const filter: Record<string, unknown> = { conversationId: conversation._id };
					if (after) filter.$or = [{ sentAt: { $gt: after.at } }, { sentAt: after.at, _id: { $gt: after.id } }];
					const rows = await MessageModel.find(filter)
						.sort({ sentAt: 1, _id: 1 })
						.limit(limit + 1)
						.lean<Message[]>();
					const page = rows.slice(0, limit);
					result.messages = page.map(presentMessage);
					result.messagesCursor = rows.length > limit ? messageCursor(page[page.length - 1]) : null;
				}
				return result;
			},
		},

		close: {
			rest: "PUT /conversations/:id/close",
			params: CloseParams,
			async handler(ctx: TenantContext<Static<typeof CloseParams>>) {
				const conversation: Conversation = await this.findOwned(ctx, ConversationModel, ctx.params.id, "Conversation");
				// Applied by the account's writer (inbox/conversation-actions.ts), which emits conversation.closed.
				if (conversation.status === "open")
					await requestAction(ctx, "close", conversation, { reason: ctx.params.reason ?? null, byUserId: ctx.meta.userId ?? null });
				return presentConversation((await ConversationModel.findById(conversation._id).lean<Conversation>())!);
			},
		},

		assign: {
			rest: "POST /conversations/:id/assign",
			params: AssignParams,
			async handler(ctx: TenantContext<Static<typeof AssignParams>>) {
				const conversation: Conversation = await this.findOwned(ctx, ConversationModel, ctx.params.id, "Conversation");
				// Applied by the account's writer, which emits conversation.assigned.
				await requestAction(ctx, "assign", conversation, { userId: ctx.params.userId, byUserId: ctx.meta.userId ?? null });
				return presentConversation((await ConversationModel.findById(conversation._id).lean<Conversation>())!);
			},
		},

		sendMessage: {
			rest: "POST /conversations/:id/messages",
			params: SendParams,
			async handler(ctx: TenantContext<Static<typeof SendParams>>) {
				// A media URL the fetch would refuse is the caller's mistake: refused before anything is stored.
				for (const [i, a] of (ctx.params.attachments ?? []).entries()) {
					await checkMediaUrl(a.url, { field: `attachments[${i}].url`, allowPrivateHosts: config().media.allowPrivateHosts });
				}
				if (ctx.params.content.length > MAX_MESSAGE_LENGTH) {
					throw new BadRequestError(`Message content exceeds X's limit of ${MAX_MESSAGE_LENGTH} characters`, "MESSAGE_TOO_LONG", [
						{ field: "content", message: `must be at most ${MAX_MESSAGE_LENGTH} characters` },
					]);
				}
				const conversation: Conversation = await this.findOwned(ctx, ConversationModel, ctx.params.id, "Conversation");
				if (conversation.status !== "open") throw new ConflictError("The conversation is closed", "CONVERSATION_CLOSED");
				const message = await sendInConversation(ctx, {
					merchantId: merchantOf(ctx),
					conversation,
					content: ctx.params.content,
					type: ctx.params.type,
					imageUrl: ctx.params.attachments?.[0]?.url ?? null,
					sentByUserId: ctx.meta.userId ?? null,
					idempotencyKey: ctx.meta.idempotencyKey,
				});
				return presentMessage(message);
			},
		},

		/** Internal (`contacts.conversations`, which has checked the contact is the caller's): a contact's conversations. */
		conversationsOf: {
			visibility: "public",
			params: ConversationsOfParams,
			async handler(ctx: TenantContext<Static<typeof ConversationsOfParams>>) {
				const query = { contactId: ctx.params.contactId, status: ctx.params.status || undefined };
				return this.findPage(ctx, ConversationModel, { query, sort: { startedAt: -1, _id: 1 } }, ctx.params, (rows: Conversation[]) =>
					rows.map(r => presentConversation(r))
				);
			},
		},

		/**
		 * Internal, for automated senders (campaigns, flows, the bot): sends `content` to a contact
		 * in its open conversation (opening one if needed), under X's rules. An ineligible contact
		 * is not an error: the answer says `skipped` with the reason, and nothing is sent.
		 */
		sendToContact: {
			visibility: "public",
			params: SendToContactParams,
			async handler(ctx: TenantContext<Static<typeof SendToContactParams>>) {
				return sendToContact(ctx, { ...ctx.params, merchantId: merchantOf(ctx) });
			},
		},

		/**
		 * Internal, for automated senders of many DMs (campaigns): sends each item's content to
		 * its contact under X's rules, in batches (see inbox/pipeline.ts) → { results: [outcome
		 * per item, in order: sent | failed | unknown | skipped | held | in_progress] }.
		 */
		sendBatch: {
			visibility: "public",
			params: SendBatchParams,
			// A batch waits for the x service's batch, which can take minutes when X is slow.
			timeout: 15 * 60_000,
			async handler(ctx: TenantContext<Static<typeof SendBatchParams>>) {
				const kind = ctx.params.origin.split(":")[0] as SendRequest["kind"];
				return { results: await sendBatch(ctx, { ...ctx.params, merchantId: merchantOf(ctx), kind }) };
			},
		},

		/** Internal (the bot): the conversation needs a person; the bot stays quiet in it until then. */
		escalate: {
			visibility: "public",
			params: EscalateParams,
			async handler(ctx: TenantContext<Static<typeof EscalateParams>>) {
				const { conversationId, reason } = ctx.params;
				const conversation = await ConversationModel.findOne({ _id: conversationId, merchantId: merchantOf(ctx) }).lean<Conversation>();
				if (!conversation || conversation.needsHuman) return { escalated: false };
				// Applied by the account's writer, which emits conversation.escalated.
				return { escalated: await requestAction(ctx, "escalate", conversation, { reason }) };
			},
		},

		// --- internal: called by the webhooks service, never through the gateway
		/** Queues an account's DMs and read receipts for its writer; a repeat queues nothing new. */
		enqueue: {
			visibility: "public",
			params: EnqueueParams,
			async handler(ctx: TenantContext<Static<typeof EnqueueParams>>) {
				const { accountId, dms, reads } = ctx.params;
				return { queued: await enqueue(ctx, dmRows(merchantOf(ctx), accountId, dms, reads)) };
			},
		},

		/** GDPR erase (a provider the contacts service asks): the contact's messages, conversations and queued rows. */
		eraseContact: {
			visibility: "public",
			params: EraseParams,
			async handler(ctx: TenantContext<Static<typeof EraseParams>>) {
				const erased = await eraseContactThreads({ ...ctx.params, merchantId: merchantOf(ctx) });
				// The writers holding accounts may remember the contact's conversations (services/inbox/tenure.ts).
				await ctx.broadcast(TENURES_STALE, {});
				return erased;
			},
		},

		/** Recounts the figures the writers keep, from the rows; reports drift and, with `fix`, repairs it. */
		reconcile: {
			visibility: "public",
			params: ReconcileParams,
			async handler(ctx: TenantContext<Static<typeof ReconcileParams>>) {
				const result = await reconcile(ctx, ctx.params, this.logger);
				// Figures fixed behind the writers: what they remember of them is stale (services/inbox/tenure.ts).
				if (result.fixed) await ctx.broadcast(TENURES_STALE, {});
				return result;
			},
		},
	},

	events: {
		// The account's writer applied conversation actions: requests waiting here for them answer.
		[ACTIONS_APPLIED](ctx: { params: { results: Record<string, boolean> } }) {
			actionsApplied(ctx.params.results);
		},
		[TENURES_STALE]() {
			this.tenures.clear();
		},
	},
});

export default InboxService;
