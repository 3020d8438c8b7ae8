import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { WebhookSubscriptionModel, type WebhookSubscription } from "../models/webhook-subscription.model.ts";
import { OutboundDeliveryModel, OUTBOUND_STATUSES } from "../models/outbound-delivery.model.ts";
import { OutboundAttemptModel } from "../models/outbound-attempt.model.ts";
import { config } from "../lib/config.ts";
import { encryptSecret } from "../lib/crypto.ts";
import { ApiError, ConflictError, NotFoundError, ValidationFailedError } from "../lib/errors.ts";
import { PageParams, pageOf, paged } from "../lib/pagination.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { clock } from "./outbound-webhooks/clock.ts";
import { outboundEvent, PUBLIC_EVENTS, SOURCE_EVENTS } from "./outbound-webhooks/events.ts";
import { createPoster, type Poster } from "./outbound-webhooks/post.ts";
import { presentDelivery, presentSubscription } from "./outbound-webhooks/present.ts";
import { newSecret } from "./outbound-webhooks/sign.ts";
import { deliveryIdOf, nextSeq, storeEvents, type ReceivedEvent } from "./outbound-webhooks/store.ts";
import { targetProblem } from "./outbound-webhooks/target.ts";
import { attemptDelivery, dueHeads, failPending, type Delivery, type WorkerEnv } from "./outbound-webhooks/worker.ts";

// Outbound webhooks: merchants register URLs that hear the events the SSE stream carries,
// signed, retried for 24 h, in order per conversation. Event handlers only store delivery rows;
// a worker on every node running this service sends whatever is due (./outbound-webhooks/).

export const MAX_SUBSCRIPTIONS = 10;
const MAX_GRACE_SECONDS = 7 * 24 * 3600;
const BATCH = 100;

const Url = Type.String({ minLength: 1, maxLength: 2000, description: "https URL on a public address" });
const Events = Type.Array(StringEnum(PUBLIC_EVENTS), { minItems: 1, maxItems: PUBLIC_EVENTS.length, uniqueItems: true });
const Description = Type.String({ maxLength: 200 });

const CreateParams = Strict({ url: Url, events: Events, description: Type.Optional(Description) });
const UpdateParams = Strict({
	id: Id(),
	url: Type.Optional(Url),
	events: Type.Optional(Events),
	description: Type.Optional(Description),
	enabled: Type.Optional(Type.Boolean({ description: "true re-enables a disabled subscription; false stops its deliveries" })),
});
const IdParams = Strict({ id: Id() });
const ListParams = Strict({ ...PageParams });
const RotateParams = Strict({
	id: Id(),
	graceSeconds: Type.Optional(
		Type.Integer({ minimum: 0, maximum: MAX_GRACE_SECONDS, default: 86_400, description: "how long the previous secret still signs" })
	),
});
const DeliveriesParams = Strict({ id: Id(), status: Type.Optional(StringEnum(OUTBOUND_STATUSES)), ...PageParams });
const RedeliverParams = Strict({ id: Id(), deliveryId: Id() });

type Sub = WebhookSubscription;

/** What the service keeps on itself: events waiting to be stored, the worker's sweep and what it sends with. */
interface OutboundState {
	/** Events received and not stored yet, in arrival order. */
	inbox: ReceivedEvent[];
	flushing: Promise<void> | null;
	sweeping: Promise<number> | null;
	sweepAgain: boolean;
	timer: NodeJS.Timeout | null;
	concurrency: number;
	stopController?: AbortController;
	poster?: Poster;
	workerEnv: WorkerEnv;
}

const OutboundWebhooksService = defineService<TenantMethods, OutboundState>()({
	name: "outbound-webhooks",
	mixins: [DbMixin([WebhookSubscriptionModel, OutboundDeliveryModel, OutboundAttemptModel]), TenantMixin],
	settings: { rest: "/" },

	methods: {
		/**
		 * Queues the event in the order it arrived; one flush at a time stores what is queued, so
		 * rows go in in that order and a burst of events costs one subscription query.
		 */
		receive(source: string, type: string, params: Record<string, unknown> | undefined) {
			if (!params || typeof params.merchantId !== "string") return;
			this.inbox.push({ event: outboundEvent(source, type, params, clock.now()), seq: nextSeq() });
			this.flushing ??= this.flush().finally(() => (this.flushing = null));
			return this.flushing;
		},

		async flush() {
			while (this.inbox.length) {
				const batch = this.inbox.splice(0, BATCH);
				try {
					if (await storeEvents(batch)) this.kick();
				} catch (err) {
					this.logger.warn(`outbound webhooks: ${batch.length} event(s) not stored: ${(err as Error).message}`);
				}
			}
		},

		async owned(ctx: TenantContext, id: string): Promise<Sub> {
			return this.findOwned(ctx, WebhookSubscriptionModel, id, "Webhook subscription");
		},

		async checkUrl(url: string) {
			const problem = await targetProblem(url, { allowPrivateHosts: config().outboundWebhooks.allowPrivateHosts });
			if (problem) throw new ValidationFailedError([{ field: "url", message: problem }], `Webhook URL refused: ${problem}`);
		},

		tooMany() {
			return new ApiError(`At most ${MAX_SUBSCRIPTIONS} webhook subscriptions per merchant`, 422, "SUBSCRIPTION_LIMIT", [
				{ field: "url", message: `a merchant has at most ${MAX_SUBSCRIPTIONS} subscriptions` },
			]);
		},

		/** Look for due work now rather than at the next tick. */
		kick() {
			void this.sweep();
		},

		/** Sends due deliveries, `concurrency` at a time, until none is due; one sweep at a time per node. */
		async sweep(): Promise<number> {
			if (this.sweeping) {
				this.sweepAgain = true;
				return 0;
			}
			this.sweeping = (async () => {
				let sent = 0;
				try {
					do {
						this.sweepAgain = false;
						const heads = await dueHeads(BATCH);
						let next = 0;
						let round = 0;
						const worker = async () => {
							while (next < heads.length && !this.workerEnv.stop.aborted) {
								if (await attemptDelivery(heads[next++], this.workerEnv)) round++;
							}
						};
						await Promise.all(Array.from({ length: this.concurrency }, worker));
						sent += round;
						if (round) this.sweepAgain = true; // the next of each key may be due now
					} while (this.sweepAgain && !this.workerEnv.stop.aborted);
				} catch (err) {
					if (!this.workerEnv.stop.aborted) this.logger.warn(`outbound webhooks: sweep failed: ${(err as Error).message}`);
				}
				return sent;
			})();
			try {
				return await this.sweeping;
			} finally {
				this.sweeping = null;
			}
		},
	},

	actions: {
		create: {
			rest: "POST /webhook-subscriptions",
			params: CreateParams,
			async handler(ctx: TenantContext<Static<typeof CreateParams>>) {
				const merchantId = this.merchantOf(ctx);
				await this.checkUrl(ctx.params.url);
				if ((await WebhookSubscriptionModel.countDocuments({ merchantId })) >= MAX_SUBSCRIPTIONS) throw this.tooMany();
				const secret = newSecret();
				const doc = await WebhookSubscriptionModel.create({
					merchantId,
					url: ctx.params.url,
					events: ctx.params.events,
					description: ctx.params.description ?? null,
					secret: encryptSecret(secret, config().encryptionKey),
				});
				// Two creates at nine may both pass the count: the one that finds more than ten backs out.
				if ((await WebhookSubscriptionModel.countDocuments({ merchantId })) > MAX_SUBSCRIPTIONS) {
					await WebhookSubscriptionModel.deleteOne({ _id: doc._id });
					throw this.tooMany();
				}
				return { ...presentSubscription(doc.toObject() as Sub), secret };
			},
		},

		list: {
			rest: "GET /webhook-subscriptions",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const filter = this.scoped(ctx, {});
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					WebhookSubscriptionModel.find(filter).sort({ merchantId: 1, createdAt: -1 }).skip(skip).limit(take).lean<Sub[]>(),
					WebhookSubscriptionModel.countDocuments(filter),
				]);
				return paged(rows.map(presentSubscription), total, ctx.params);
			},
		},

		get: {
			rest: "GET /webhook-subscriptions/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				return presentSubscription(await this.owned(ctx, ctx.params.id));
			},
		},

		update: {
			rest: "PUT /webhook-subscriptions/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, url, events, description, enabled } = ctx.params;
				const sub = await this.owned(ctx, id);
				if (url !== undefined) await this.checkUrl(url);
				const $set: Record<string, unknown> = {};
				if (url !== undefined) $set.url = url;
				if (events !== undefined) $set.events = events;
				if (description !== undefined) $set.description = description;
				if (enabled === true && sub.status !== "active")
					Object.assign($set, { status: "active", disabledAt: null, disabledReason: null, failingSince: null });
				if (enabled === false && sub.status === "active")
					Object.assign($set, { status: "disabled", disabledAt: clock.now(), disabledReason: "disabled by the merchant" });
				if (Object.keys($set).length) await WebhookSubscriptionModel.updateOne({ _id: id }, { $set });
				if ($set.status === "disabled") await failPending(id, "subscription disabled");
				return presentSubscription(await this.owned(ctx, id));
			},
		},

		remove: {
			rest: "DELETE /webhook-subscriptions/:id",
			params: IdParams,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const { id } = ctx.params;
				await this.owned(ctx, id);
				await WebhookSubscriptionModel.deleteOne({ _id: id });
				await OutboundDeliveryModel.deleteMany({ subscriptionId: id });
				await OutboundAttemptModel.deleteMany({ subscriptionId: id });
				return { id, deleted: true };
			},
		},

		rotateSecret: {
			rest: "POST /webhook-subscriptions/:id/rotate-secret",
			params: RotateParams,
			async handler(ctx: TenantContext<Static<typeof RotateParams>>) {
				const { id, graceSeconds = 86_400 } = ctx.params;
				const sub = await this.owned(ctx, id);
				const secret = newSecret();
				const expires = graceSeconds > 0 ? new Date(clock.now().getTime() + graceSeconds * 1000) : null;
				await WebhookSubscriptionModel.updateOne(
					{ _id: id },
					{
						$set: {
							secret: encryptSecret(secret, config().encryptionKey),
							previousSecret: expires ? sub.secret : null,
							previousSecretExpiresAt: expires,
						},
					}
				);
				return { ...presentSubscription(await this.owned(ctx, id)), secret };
			},
		},

		deliveries: {
			rest: "GET /webhook-subscriptions/:id/deliveries",
			params: DeliveriesParams,
			async handler(ctx: TenantContext<Static<typeof DeliveriesParams>>) {
				const { id, status } = ctx.params;
				await this.owned(ctx, id);
				const filter = { subscriptionId: id, ...(status ? { status } : {}) };
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					OutboundDeliveryModel.find(filter).sort({ subscriptionId: 1, seq: -1 }).skip(skip).limit(take).lean<Delivery[]>(),
					OutboundDeliveryModel.countDocuments(filter),
				]);
				return paged(rows.map(presentDelivery), total, ctx.params);
			},
		},

		redeliver: {
			rest: "POST /webhook-subscriptions/:id/deliveries/:deliveryId/redeliver",
			params: RedeliverParams,
			async handler(ctx: TenantContext<Static<typeof RedeliverParams>>) {
				const { id, deliveryId } = ctx.params;
				const sub = await this.owned(ctx, id);
				const d = await OutboundDeliveryModel.findById(deliveryId).lean<Delivery>();
				if (!d || d.subscriptionId !== sub._id) throw new NotFoundError("Delivery");
				if (sub.status !== "active")
					throw new ConflictError("The subscription is disabled: enable it first (PUT enabled: true)", "SUBSCRIPTION_DISABLED");
				// A fresh 24 h window; the attempt count goes on, so earlier attempts stay in the log.
				await OutboundDeliveryModel.updateOne(
					{ _id: deliveryId },
					{ $set: { status: "pending", nextAttemptAt: clock.now(), windowStartAt: null } }
				);
				this.kick();
				return presentDelivery((await OutboundDeliveryModel.findById(deliveryId).lean<Delivery>())!);
			},
		},

		test: {
			rest: "POST /webhook-subscriptions/:id/test",
			params: IdParams,
			// longer than the delivery's own timeout
			timeout: 30_000,
			async handler(ctx: TenantContext<Static<typeof IdParams>>) {
				const sub = await this.owned(ctx, ctx.params.id);
				const now = clock.now();
				const event = {
					id: `evt_ping_${randomUUID()}`,
					type: "ping",
					createdAt: now.toISOString(),
					merchantId: sub.merchantId,
					data: { subscriptionId: sub._id },
				};
				const _id = deliveryIdOf(sub._id, event.id);
				// Stored like any delivery (it shows in the list) but not due: this call makes its one attempt.
				await OutboundDeliveryModel.create({
					_id,
					merchantId: sub.merchantId,
					subscriptionId: sub._id,
					eventId: event.id,
					type: "ping",
					body: JSON.stringify(event),
					orderKey: null,
					seq: nextSeq(),
					nextAttemptAt: null,
					createdAt: now,
				});
				const row = (await OutboundDeliveryModel.findById(_id).lean<Delivery>())!;
				await attemptDelivery(row, this.workerEnv, { force: true, once: true });
				return presentDelivery((await OutboundDeliveryModel.findById(_id).lean<Delivery>())!);
			},
		},

		/** Sends what is due now (tests after moving the clock; the timer does the same). */
		sweep: {
			visibility: "public",
			async handler() {
				while (this.sweeping) await this.sweeping;
				return { sent: await this.sweep() };
			},
		},
	},

	events: Object.fromEntries(
		Object.entries(SOURCE_EVENTS).map(([source, type]) => [
			source,
			{
				handler(
					this: { receive(source: string, type: string, params: unknown): Promise<void> | undefined },
					ctx: Context<Record<string, unknown>>
				) {
					return this.receive(source, type, ctx.params);
				},
			},
		])
	),

	created() {
		this.inbox = [];
		this.flushing = null;
		this.sweeping = null;
		this.sweepAgain = false;
		this.timer = null;
	},

	async started() {
		const cfg = config().outboundWebhooks;
		this.concurrency = cfg.concurrency;
		this.stopController = new AbortController();
		this.poster = createPoster({ allowPrivateHosts: cfg.allowPrivateHosts, caFile: cfg.caFile, timeoutMs: cfg.timeoutMs });
		this.workerEnv = {
			nodeID: this.broker.nodeID,
			poster: this.poster,
			encryptionKey: config().encryptionKey,
			timeoutMs: cfg.timeoutMs,
			stop: this.stopController.signal,
			log: (line: string) => this.logger.info(line),
		} satisfies WorkerEnv;
		this.timer = setInterval(() => this.kick(), cfg.pollMs);
		this.timer.unref();
	},

	async stopped() {
		if (this.timer) clearInterval(this.timer);
		await this.flushing;
		this.stopController?.abort();
		await this.sweeping;
		this.poster?.close();
	},
});

export default OutboundWebhooksService;
