import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { uuidId } from "./plugins.ts";

export const SUBSCRIPTION_STATUSES = ["active", "disabled"] as const;

/**
 * A merchant's URL that hears the events it chose. The signing secret is stored encrypted
 * (lib/crypto.ts) and shown once, at create or rotation; during a rotation's grace period the
 * previous secret signs too, so a receiver can switch over without refusing a delivery.
 */
export const webhookSubscriptionSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		url: { type: String, required: true },
		events: { type: [String], default: [] },
		description: { type: String, default: null },
		secret: { type: String, required: true },
		previousSecret: { type: String, default: null },
		previousSecretExpiresAt: { type: Date, default: null },
		status: { type: String, enum: SUBSCRIPTION_STATUSES, default: "active" },
		/** First failure since the last success: 24 h of failures disable the subscription. */
		failingSince: { type: Date, default: null },
		disabledAt: { type: Date, default: null },
		disabledReason: { type: String, default: null },
	},
	{ collection: "webhook_subscriptions", timestamps: true }
);

webhookSubscriptionSchema.index({ merchantId: 1, createdAt: -1 });

export type WebhookSubscription = InferSchemaType<typeof webhookSubscriptionSchema> & { _id: string; createdAt: Date; updatedAt: Date };
export const WebhookSubscriptionModel = mongoose.model("WebhookSubscription", webhookSubscriptionSchema);
