import mongoose, { Schema, type InferSchemaType } from "mongoose";

export const DELIVERY_STATUSES = ["pending", "processed", "ignored", "failed"] as const;

/**
 * One webhook delivery from X, stored raw before X gets its 200. The id is the SHA-256 of the
 * body, so X's retries of the same delivery insert nothing new. Processing reads it back from
 * here (never from memory or ctx.meta) and is retried from here when a node dies mid-way.
 */
export const webhookDeliverySchema = new Schema(
	{
		_id: { type: String, required: true },
		forUserId: { type: String, default: null },
		payload: { type: String, required: true },
		eventCount: { type: Number, default: 0 },
		receivedAt: { type: Date, default: () => new Date() },
		status: { type: String, enum: DELIVERY_STATUSES, default: "pending" },
		attempts: { type: Number, default: 0 },
		lastError: { type: String, default: null },
		processedAt: { type: Date, default: null },
	},
	{ collection: "webhook_deliveries" }
);

webhookDeliverySchema.index({ status: 1, receivedAt: 1 });
// GDPR erase: an account's deliveries (then their payloads are searched for the contact's X id).
webhookDeliverySchema.index({ forUserId: 1, receivedAt: 1 });

export type WebhookDelivery = InferSchemaType<typeof webhookDeliverySchema>;
export const WebhookDeliveryModel = mongoose.model("WebhookDelivery", webhookDeliverySchema);
