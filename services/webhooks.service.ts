import { createHash } from "node:crypto";
import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { WebhookDeliveryModel } from "../models/webhook-delivery.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { AgendaMixin } from "../mixins/agenda.mixin.ts";
import { config } from "../lib/config.ts";
import { BadRequestError } from "../lib/errors.ts";
import { crcResponseToken } from "../lib/webhook-signature.ts";
import { isDuplicateKey } from "../lib/ids.ts";
import { readActivity, type ActivityBatch } from "./webhooks/account-activity.ts";
import { AccountDirectory } from "./webhooks/account-directory.ts";
import { escapeRegex } from "../lib/regex.ts";
import { call, callFor } from "../lib/calls.ts";
import type { TenantContext } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";

// X's webhook, behind the gateway (which checks the signature and the events-per-minute limit).
// A delivery is stored raw before X gets its 200 (its id is the SHA-256 of the body, so X's
// retries store nothing new), then handed to the inbox's queue as account activity in the same
// request: one insert of rows whose ids derive from X's event ids. The inbox's writers drain that
// queue in batches (docs/ingest.md); nothing here waits for processing. A delivery whose hand-over
// failed (the inbox away, a stop) stays `pending` and the sweeper hands it over again.

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

type Outcome = "queued" | "ignored";
/** What `created()` sets on the service. */
type WebhooksFields = { accounts: AccountDirectory };

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
	},

	methods: {
		/** Gives the delivery's events to the inbox's queue, then marks it handed over. */
		async handOver(ctx: Context, id: string, batch: ActivityBatch): Promise<Outcome> {
			const account = batch.forUserId ? await this.accounts.get(batch.forUserId) : null;
			if (!account) {
				// Unknown or disconnected account: kept for the record, acknowledged, not processed.
				await WebhookDeliveryModel.updateOne({ _id: id }, { $set: { status: "ignored", processedAt: new Date() } });
				return "ignored";
			}
			const dms = batch.messages.map(m => {
				const outbound = m.senderId === account.twitterUserId;
				const customerId = outbound ? m.recipientId : m.senderId;
				return { ...m, createdAt: m.createdAt.toISOString(), customerId, outbound, profile: batch.users.get(customerId) ?? null };
			});
			// The account reading the customer's messages is not a read receipt for us.
			const reads = batch.reads
				.filter(r => r.readerId !== account.twitterUserId)
				.map(r => ({ readerId: r.readerId, lastReadEventId: r.lastReadEventId, at: r.at.toISOString(), customerId: r.readerId }));
			if (dms.length || reads.length) {
				await callFor(ctx, account.merchantId, "inbox.enqueue", { accountId: account.id, dms, reads }, { timeout: HANDOVER_TIMEOUT_MS });
			}
			await WebhookDeliveryModel.updateOne({ _id: id }, { $set: { status: "processed", processedAt: new Date() } });
			return "queued";
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
				try {
					await WebhookDeliveryModel.create({
						_id: id,
						forUserId: batch.forUserId,
						payload: ctx.params.payload,
						eventCount: batch.eventCount,
					});
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					return { deliveryId: id, duplicate: true };
				}
				try {
					const status = await this.handOver(ctx, id, batch);
					return { deliveryId: id, duplicate: false, status };
				} catch (err) {
					// Stored, so acknowledged: the sweeper hands it over later.
					this.logger.warn(`webhook delivery ${id} stored, hand-over to the inbox deferred: ${(err as Error).message}`);
					return { deliveryId: id, duplicate: false, status: "pending" };
				}
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
				for (const d of stale) {
					try {
						if ((await this.handOver(ctx, d._id, readActivity(JSON.parse(d.payload)))) === "queued") queued++;
					} catch (err) {
						await WebhookDeliveryModel.updateOne({ _id: d._id }, { $inc: { attempts: 1 }, $set: { lastError: (err as Error).message } });
					}
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
