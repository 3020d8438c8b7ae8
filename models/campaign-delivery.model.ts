import mongoose, { Schema, type InferSchemaType } from "mongoose";

// One row per campaign and recipient, written when the campaign starts (the snapshot) and
// carried to exactly one final state. `_id` is "<campaignId>:<contactId>", so the snapshot can
// be written again after a crash without a second row, and every lookup of one recipient is an
// `_id` lookup. Metrics are counts of these rows; engagement fields are set once (idempotent).

/**
 * pending: waiting to be sent; sending: claimed, the call to X under way;
 * sent: X accepted it; failed: X (or rendering) refused it, with the reason;
 * skipped: not eligible (reason); unknown: claimed but its outcome was lost (never resent);
 * expired: still unsent at schedule.endAt; cancelled: still unsent when the campaign was cancelled.
 */
export const DELIVERY_STATUSES = ["pending", "sending", "sent", "failed", "skipped", "unknown", "expired", "cancelled"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
export const FINAL_DELIVERY_STATUSES: readonly DeliveryStatus[] = ["sent", "failed", "skipped", "unknown", "expired", "cancelled"];

export const deliveryId = (campaignId: string, contactId: string) => `${campaignId}:${contactId}`;

export const campaignDeliverySchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		campaignId: { type: String, required: true },
		contactId: { type: String, required: true },
		/** The contact's own account, which sends to it. */
		accountId: { type: String, required: true },
		status: { type: String, enum: DELIVERY_STATUSES, required: true },
		reason: { type: String, default: null },
		claimedAt: { type: Date, default: null },
		messageId: { type: String, default: null },
		conversationId: { type: String, default: null },
		twitterMessageId: { type: String, default: null },
		sentAt: { type: Date, default: null },
		finishedAt: { type: Date, default: null },
		openedAt: { type: Date, default: null },
		clickedAt: { type: Date, default: null },
		repliedAt: { type: Date, default: null },
		replyMessageId: { type: String, default: null },
		createdAt: { type: Date, default: () => new Date() },
	},
	{ collection: "campaign_deliveries", versionKey: false }
);

campaignDeliverySchema.index({ campaignId: 1, status: 1, accountId: 1 });
campaignDeliverySchema.index({ campaignId: 1, openedAt: 1 });
campaignDeliverySchema.index({ campaignId: 1, clickedAt: 1 });
campaignDeliverySchema.index({ campaignId: 1, repliedAt: 1 });
campaignDeliverySchema.index({ contactId: 1, sentAt: -1 });
campaignDeliverySchema.index({ merchantId: 1, contactId: 1 });

export type CampaignDelivery = InferSchemaType<typeof campaignDeliverySchema>;
export const CampaignDeliveryModel = mongoose.model("CampaignDelivery", campaignDeliverySchema);
