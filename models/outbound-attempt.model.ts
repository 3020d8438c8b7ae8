import mongoose, { Schema, type InferSchemaType } from "mongoose";

/**
 * The claim of one attempt of one delivery, `_id = "<deliveryId>:<attempt number>"`, inserted
 * before the POST: the unique insert is atomic on FerretDB and MongoDB (an update of the
 * delivery row is not on FerretDB 1.x), so of two workers exactly one sends. It then keeps the
 * attempt's outcome. A claim without an outcome long after the timeout belongs to a node that
 * died mid-delivery: another worker replaces it (delete by token, insert again) and sends.
 */
export const outboundAttemptSchema = new Schema(
	{
		_id: { type: String, required: true },
		deliveryId: { type: String, required: true },
		subscriptionId: { type: String, required: true },
		attempt: { type: Number, required: true },
		token: { type: String, required: true },
		nodeID: { type: String, default: null },
		claimedAt: { type: Date, required: true },
		finishedAt: { type: Date, default: null },
		statusCode: { type: Number, default: null },
		latencyMs: { type: Number, default: null },
		error: { type: String, default: null },
	},
	{ collection: "outbound_webhook_attempts", versionKey: false }
);

outboundAttemptSchema.index({ subscriptionId: 1 });

export type OutboundAttempt = InferSchemaType<typeof outboundAttemptSchema>;
export const OutboundAttemptModel = mongoose.model("OutboundAttempt", outboundAttemptSchema);
