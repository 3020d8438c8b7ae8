import mongoose, { Schema } from "mongoose";

/**
 * A request's Idempotency-Key, claimed by a unique insert before anything is done: the first
 * request with a key does the work, a repeat finds the claim and answers what the first did.
 */
export const idempotencyKeySchema = new Schema(
	{
		_id: { type: String, required: true }, // "<merchantId>:<scope>:<key>"
		merchantId: { type: String, required: true },
		resultId: { type: String, default: null },
		createdAt: { type: Date, default: () => new Date() },
	},
	{ collection: "idempotency_keys" }
);

export const IdempotencyKeyModel = mongoose.model("IdempotencyKey", idempotencyKeySchema);
