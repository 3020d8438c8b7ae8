import { createHash } from "node:crypto";
import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { WebhookDeliveryModel } from "../models/webhook-delivery.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { AgendaMixin } from "../mixins/agenda.mixin.ts";
import { config } from "../lib/config.ts";
import { BadRequestError } from "../lib/errors.ts";
import { crcResponseToken } from "../lib/webhook-signature.ts";
import { GroupCommit } from "../lib/group-commit.ts";
import { updateEach } from "../lib/lookups.ts";
import { readActivity } from "./webhooks/account-activity.ts";
import { deliveryStore, type NewDelivery } from "./webhooks/delivery-store.ts";
import { handOverDeliveries, type HandoverOutcome, type StoredDelivery } from "./webhooks/handover.ts";
import { AccountDirectory } from "./webhooks/account-directory.ts";
import { escapeRegex } from "../lib/regex.ts";
import { call } from "../lib/calls.ts";
import type { TenantContext } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";

// X's webhook, behind the gateway (which checks the signature and the events-per-minute limit).
// A delivery is stored raw before X gets its 200 (its id is the SHA-256 of the body, so X's
// retries store nothing new); concurrent deliveries are stored together, one insert per group
// (services/webhooks/delivery-store.ts). Once stored it is acknowledged and handed to the inbox's
// queue in the background, again many at once (services/webhooks/handover.ts): the inbox's
// writers drain that queue in batches (docs/ingest.md); nothing on the acknowledgement path waits
// for the hand-over or for processing. A delivery whose hand-over failed (the inbox away, this
// node stopped or died) stays `pending` and the sweeper hands it over again.

const SWEEP_AFTER_MS = 15_000;
const SWEEP_PAGE = 200;
const HANDOVER_TIMEOUT_MS = 5_000;

const CrcParams = Type.Object({ crc_token: Type.Optional(Type.String({ maxLength: 1000 })), nonce: Type.Optional(Type.String()) });
const ReceiveParams = Type.Object({ payload: Type.String({ minLength: 1 }) }, { additionalProperties: false });
const EraseParams = Type.Object({
	contactId: Type.String(),
	accountId: Type.Optional(Type.String()),
	twitterUserId: Type.Optional(Type.String()),
});
const SweepParams = Type.Object({ olderThanMs: Type.Optional(Type.Integer({ minimum: 0 })) });

/** How long a stopping node waits for its hand-overs in flight (then the sweeper takes them). */
const STOP_FLUSH_MS = 10_000;

/** What `created()` sets on the service. */
type WebhooksFields = {
	accounts: AccountDirectory;
	/** The raw store, by group commit. */
	deliveries: GroupCommit<NewDelivery, boolean>;
	/** Hand-overs to the inbox behind the answer, by group. */
	handovers: GroupCommit<StoredDelivery, HandoverOutcome>;
};

const WebhooksService = defineService<WebhooksFields>()({
	name: "webhooks",
	mixins: [
		DbMixin([WebhookDeliveryModel]),
		AgendaMixin({
			jobs: {
				"webhooks.sweep": {
					every: "30 seconds",
					concurrency: 1,
					async handler() {
						// No deadline on the sweep as a whole: each hand-over has its own.
						await this.broker.call("webhooks.sweep", {}, { timeout: 0 });
					},
				},
			},
		}),
	],

	created() {
		this.accounts = new AccountDirectory(twitterUserId => call(this.broker, "accounts.byTwitterUserId", { twitterUserId }));
		this.deliveries = deliveryStore();
		this.handovers = new GroupCommit<StoredDelivery, HandoverOutcome>(items => this.handOver(items), { maxBatch: 200 });
	},

	async stopped() {
		// Acknowledged deliveries still being handed over: finish them if the inbox answers soon.
		await Promise.race([this.handovers.idle(), new Promise(r => setTimeout(r, STOP_FLUSH_MS).unref())]);
	},

	methods: {
		/** Gives the deliveries' events to the inbox's queue, then marks them handed over. */
		handOver(items: StoredDelivery[]): Promise<HandoverOutcome[]> {
			return handOverDeliveries(this.broker, this.accounts, items, HANDOVER_TIMEOUT_MS, (account, ids, err) => {
				this.logger.warn(`webhook hand-over of ${ids.length} deliveries for account ${account.id} deferred: ${err.message}`);
				updateEach(WebhookDeliveryModel, ids, { $set: { lastError: err.message.slice(0, 500) } }).catch(() => {});
			});
		},
	},

	actions: {
		crc: {
			params: CrcParams,
			handler(ctx: Context<Static<typeof CrcParams>>) {
				const token = ctx.params.crc_token;
				if (!token) throw new BadRequestError("crc_token is required", "BAD_REQUEST", [{ field: "crc_token", message: "is required" }]);
				return { response_token: crcResponseToken(config().x.consumerSecret, token) };
			},
		},

		/** Stores a verified delivery (the gateway checked its signature) and hands it to the inbox. */
		receive: {
			params: ReceiveParams,
			async handler(ctx: Context<Static<typeof ReceiveParams>>) {
				let parsed: unknown;
				try {
					parsed = JSON.parse(ctx.params.payload);
				} catch {
					throw new BadRequestError("Webhook body is not JSON");
				}
				const batch = readActivity(parsed);
				const id = createHash("sha256").update(ctx.params.payload).digest("hex");
				const stored: boolean = await this.deliveries.add({
					_id: id,
					forUserId: batch.forUserId,
					payload: ctx.params.payload,
					eventCount: batch.eventCount,
				});
				if (!stored) return { deliveryId: id, duplicate: true };
				// Stored, so acknowledged; the hand-over runs behind the answer (and the sweeper after it).
				this.handovers.add({ id, batch }).catch((err: Error) => {
					this.logger.warn(`webhook delivery ${id} stored, hand-over to the inbox deferred: ${err.message}`);
				});
				return { deliveryId: id, duplicate: false, status: "pending" };
			},
		},

		/**
		 * GDPR erase (asked by the contacts service before it deletes the contact): the raw
		 * deliveries that carry the contact's X id. Deliveries still pending are kept: their
		 * processing is what the erase sweep of messages then removes.
		 */
		eraseContact: {
			visibility: "public",
			params: EraseParams,
			async handler(ctx: TenantContext<Static<typeof EraseParams>>) {
				const { accountId, twitterUserId } = ctx.params;
				if (!accountId || !twitterUserId) return { webhookDeliveries: 0 };
				const account = await call(ctx, "accounts.ref", { id: accountId });
				if (!account) return { webhookDeliveries: 0 };
				const mentions = new RegExp(`"${escapeRegex(twitterUserId)}"`);
				const res = await WebhookDeliveryModel.deleteMany({
					forUserId: account.twitterUserId,
					status: { $ne: "pending" },
					payload: { $regex: mentions },
				});
				return { webhookDeliveries: res.deletedCount };
			},
		},

		/** Hands over deliveries still pending after SWEEP_AFTER_MS (their hand-over failed or their node died). */
		sweep: {
			params: SweepParams,
			async handler(ctx: Context<Static<typeof SweepParams>>) {
				const before = new Date(Date.now() - (ctx.params.olderThanMs ?? SWEEP_AFTER_MS));
				const stale = await WebhookDeliveryModel.find({ status: "pending", receivedAt: { $lt: before } })
					.sort({ receivedAt: 1 })
					.limit(SWEEP_PAGE)
					.lean();
				let queued = 0;
				if (stale.length) {
					const outcomes = await this.handOver(stale.map(d => ({ id: d._id, batch: readActivity(JSON.parse(d.payload)) })));
					queued = outcomes.filter((o: HandoverOutcome) => o === "queued").length;
					const failed = stale.filter((_, i: number) => outcomes[i] === "pending").map(d => d._id);
					await updateEach(WebhookDeliveryModel, failed, { $inc: { attempts: 1 } });
				}
				if (stale.length) this.logger.info(`webhook sweep: ${queued}/${stale.length} pending deliveries handed to the inbox`);
				return { found: stale.length, processed: queued };
			},
		},
	},

	events: {
		"account.connected"(ctx: Context<{ twitterUserId?: string }>) {
			this.accounts.forget(ctx.params.twitterUserId);
		},
		"account.disconnected"() {
			this.accounts.clear();
		},
	},
});

export default WebhooksService;
