import mongoose, { Schema } from "mongoose";

/**
 * The gateway's record of an Idempotency-Key sent with a POST (lib/idempotency.ts): claimed by
 * a unique insert before the action runs, then holding the answer the first request got, which
 * a repeat of the request receives again. Owned by the api service.
 */
export const requestKeySchema = new Schema(
	{
		_id: { type: String, required: true }, // sha256(merchantId, key): scoped per merchant
		merchantId: { type: String, required: true },
		/** sha256 of the action and its params: the same key with another body is refused. */
		fingerprint: { type: String, required: true },
		/** Random per request: only the request that claimed the key settles it. */
		owner: { type: String, required: true },
		state: { type: String, enum: ["pending", "done"], default: "pending" },
		status: { type: Number, default: null },
		body: { type: Schema.Types.Mixed, default: null },
		createdAt: { type: Date, required: true },
		/** A key is forgotten after this (24 h); on MongoDB the TTL index removes the row. */
		expiresAt: { type: Date, required: true },
	},
	{ collection: "gateway_request_keys", versionKey: false, minimize: false }
);
requestKeySchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export const RequestKeyModel = mongoose.model("RequestKey", requestKeySchema);
