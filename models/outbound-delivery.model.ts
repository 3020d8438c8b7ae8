import mongoose, { Schema, type InferSchemaType } from "mongoose";

export const OUTBOUND_STATUSES = ["pending", "delivered", "failed"] as const;
export type OutboundStatus = (typeof OUTBOUND_STATUSES)[number];

/**
 * One event for one subscription, stored before anything is sent. The id is derived from
 * (subscription, event id), so an event emitted twice is stored once. `body` holds the exact
 * bytes every attempt sends. Only the oldest pending delivery of an (subscription, orderKey)
 * is sent, which keeps a conversation's events in order; `orderKey` null means no order.
 */
export const outboundDeliverySchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		subscriptionId: { type: String, required: true },
		eventId: { type: String, required: true },
		type: { type: String, required: true },
		body: { type: String, required: true },
		orderKey: { type: String, default: null },
		/** Order of receipt (microseconds since the epoch, unique per node). */
		seq: { type: Number, required: true },
		status: { type: String, enum: OUTBOUND_STATUSES, default: "pending" },
		attempts: { type: Number, default: 0 },
		nextAttemptAt: { type: Date, default: null },
		/** Start of the 24 h retry window (the first attempt, or the last redelivery). */
		windowStartAt: { type: Date, default: null },
		lastAttemptAt: { type: Date, default: null },
		lastStatusCode: { type: Number, default: null },
		lastLatencyMs: { type: Number, default: null },
		lastError: { type: String, default: null },
		deliveredAt: { type: Date, default: null },
		createdAt: { type: Date, required: true },
	},
	{ collection: "outbound_webhook_deliveries", versionKey: false }
);

// the workers' due query
outboundDeliverySchema.index({ status: 1, nextAttemptAt: 1 });
// the head of an ordering key; a subscription's pending rows (disable, delete)
outboundDeliverySchema.index({ subscriptionId: 1, orderKey: 1, status: 1, seq: 1 });
// the deliveries page of a subscription, newest first
outboundDeliverySchema.index({ subscriptionId: 1, seq: -1 });

export type OutboundDelivery = InferSchemaType<typeof outboundDeliverySchema>;
export const OutboundDeliveryModel = mongoose.model("OutboundDelivery", outboundDeliverySchema);
