import { createHash } from "node:crypto";
import type { Context, ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { WebhookDeliveryModel } from "../models/webhook-delivery.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { AgendaMixin } from "../mixins/agenda.mixin.ts";
import { config } from "../lib/config.ts";
import { BadRequestError } from "../lib/errors.ts";
import { crcResponseToken } from "../lib/webhook-signature.ts";
import { isDuplicateKey } from "../lib/ids.ts";
import { readActivity } from "./webhooks/account-activity.ts";
import { ContactModel } from "../models/contact.model.ts";
import { AccountModel } from "../models/account.model.ts";
import { escapeRegex } from "../lib/regex.ts";

// X's webhook, behind the gateway (which checks the signature and the events-per-minute limit).
// A delivery is stored raw before X gets its 200, then processed from the store: at once on
// whichever node takes the `webhook.stored` event, and again by the sweeper job for anything a
// dead node left pending. Processing is idempotent on X's event ids (the inbox decides).

const MAX_ATTEMPTS = 10;
// Processing is paced per node: a burst of deliveries waits its turn instead of running all at
// once against the database (and then timing out). Waiting in line is not a failure, so these
// internal calls get a longer timeout than a request's.
const PROCESS_CONCURRENCY = 4;
const PROCESS_TIMEOUT_MS = 120_000;
const SWEEP_AFTER_MS = 30_000;

const CrcParams = Type.Object({ crc_token: Type.Optional(Type.String({ maxLength: 1000 })), nonce: Type.Optional(Type.String()) });
const ReceiveParams = Type.Object({ payload: Type.String({ minLength: 1 }) }, { additionalProperties: false });
const ProcessParams = Type.Object({ deliveryId: Type.String() }, { additionalProperties: false });

interface AccountRef {
	id: string;
	merchantId: string;
	twitterUserId: string;
}

const WebhooksService: ServiceSchema = {
	name: "webhooks",
	mixins: [
		DbMixin([WebhookDeliveryModel]),
		AgendaMixin({
			jobs: {
				"webhooks.sweep": {
					every: "30 seconds",
					concurrency: 1,
					async handler() {
						await this.broker.call("webhooks.sweep");
					},
				},
			},
		}),
	],

	actions: {
		crc: {
			params: CrcParams,
			handler(ctx: Context<Static<typeof CrcParams>>) {
				const token = ctx.params.crc_token;
				if (!token) throw new BadRequestError("crc_token is required", "BAD_REQUEST", [{ field: "crc_token", message: "is required" }]);
				return { response_token: crcResponseToken(config().x.consumerSecret, token) };
			},
		},

		/** Stores a verified delivery (the gateway checked its signature) and starts its processing. */
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
					await WebhookDeliveryModel.create({ _id: id, forUserId: batch.forUserId, payload: ctx.params.payload, eventCount: batch.eventCount });
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
					return { deliveryId: id, duplicate: true };
				}
				ctx.emit("webhook.stored", { deliveryId: id });
				return { deliveryId: id, duplicate: false };
			},
		},

		/** Processes one stored delivery; safe to run again (and concurrently) for the same one. */
		process: {
			params: ProcessParams,
			bulkhead: { enabled: true, concurrency: PROCESS_CONCURRENCY, maxQueueSize: 100_000 },
			async handler(ctx: Context<Static<typeof ProcessParams>>) {
				const delivery = await WebhookDeliveryModel.findById(ctx.params.deliveryId).lean();
				if (!delivery || delivery.status === "processed" || delivery.status === "ignored") return { status: delivery?.status ?? "missing" };
				const batch = readActivity(JSON.parse(delivery.payload));
				const account = batch.forUserId
					? ((await ctx.call("accounts.byTwitterUserId", { twitterUserId: batch.forUserId })) as AccountRef | null)
					: null;
				if (!account) {
					// Unknown or disconnected account: kept for the record, acknowledged, not processed.
					await WebhookDeliveryModel.updateOne({ _id: delivery._id }, { $set: { status: "ignored", processedAt: new Date() } });
					return { status: "ignored" };
				}
				try {
					for (const message of batch.messages) {
						const contactId = message.senderId === account.twitterUserId ? message.recipientId : message.senderId;
						await ctx.call("inbox.ingestDirectMessage", {
							merchantId: account.merchantId,
							accountId: account.id,
							accountTwitterUserId: account.twitterUserId,
							message: { ...message, createdAt: message.createdAt.toISOString() },
							profile: batch.users.get(contactId) ?? null,
						}, { timeout: PROCESS_TIMEOUT_MS });
					}
					for (const read of batch.reads) {
						if (read.readerId === account.twitterUserId) continue; // the account reading the customer's messages
						await ctx.call("inbox.markRead", {
							merchantId: account.merchantId,
							accountId: account.id,
							customerTwitterUserId: read.readerId,
							lastReadEventId: read.lastReadEventId,
							at: read.at.toISOString(),
						});
					}
				} catch (err) {
					const attempts = delivery.attempts + 1;
					await WebhookDeliveryModel.updateOne(
						{ _id: delivery._id },
						{ $set: { attempts, lastError: (err as Error).message, status: attempts >= MAX_ATTEMPTS ? "failed" : "pending" } }
					);
					this.logger.warn(`webhook delivery ${delivery._id} attempt ${attempts} failed: ${(err as Error).message}`);
					return { status: "retry" };
				}
				await WebhookDeliveryModel.updateOne({ _id: delivery._id }, { $set: { status: "processed", processedAt: new Date() } });
				return { status: "processed", messages: batch.messages.length, reads: batch.reads.length };
			},
		},

		/**
		 * GDPR erase (asked by the contacts service before it deletes the contact): the raw
		 * deliveries that carry the contact's X id. Deliveries still pending are kept: their
		 * processing is what the erase sweep of messages then removes.
		 */
		eraseContact: {
			visibility: "public",
			params: Type.Object({ merchantId: Type.String(), contactId: Type.String() }),
			async handler(ctx: Context<{ merchantId: string; contactId: string }>) {
				const contact = await ContactModel.findOne({ _id: ctx.params.contactId, merchantId: ctx.params.merchantId }, { twitterUserId: 1, accountId: 1 }).lean();
				const account = contact ? await AccountModel.findById(contact.accountId, { twitterUserId: 1 }).lean() : null;
				if (!contact || !account) return { webhookDeliveries: 0 };
				const mentions = new RegExp(`"${escapeRegex(contact.twitterUserId)}"`);
				const res = await WebhookDeliveryModel.deleteMany({ forUserId: account.twitterUserId, status: { $ne: "pending" }, payload: { $regex: mentions } });
				return { webhookDeliveries: res.deletedCount };
			},
		},

		/** Retries deliveries still pending after SWEEP_AFTER_MS (their node died or a step failed). */
		sweep: {
			params: Type.Object({ olderThanMs: Type.Optional(Type.Integer({ minimum: 0 })) }),
			async handler(ctx: Context<{ olderThanMs?: number }>) {
				const before = new Date(Date.now() - (ctx.params.olderThanMs ?? SWEEP_AFTER_MS));
				const stale = await WebhookDeliveryModel.find({ status: "pending", receivedAt: { $lt: before } }, { _id: 1 })
					.sort({ receivedAt: 1 })
					.limit(200)
					.lean();
				let processed = 0;
				for (const d of stale) {
					const result = (await ctx.call("webhooks.process", { deliveryId: d._id }, { timeout: PROCESS_TIMEOUT_MS })) as { status: string };
					if (result.status === "processed") processed++;
				}
				if (stale.length) this.logger.info(`webhook sweep: ${processed}/${stale.length} pending deliveries processed`);
				return { found: stale.length, processed };
			},
		},
	},

	events: {
		"webhook.stored": {
			async handler(ctx: Context<{ deliveryId: string }>) {
				await ctx.call("webhooks.process", { deliveryId: ctx.params.deliveryId }, { timeout: PROCESS_TIMEOUT_MS });
			},
		},
	},
};

export default WebhooksService;
