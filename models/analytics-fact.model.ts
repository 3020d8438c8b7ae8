import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { FACT_TYPES } from "../services/analytics/facts.ts";

/**
 * One thing the analytics count (a received message, a closed conversation...), under a fixed
 * id per entity and kind (`in:<messageId>`, `close:<conversationId>`): inserting it is the
 * "exactly once" of a replayed event. A fact that no longer holds (an opt-in, an erased contact,
 * X's echo of our own send) is kept as a tombstone (`deleted`) stripped of its contact, so the
 * rebuild can tell which counters moved while it ran.
 */
export const analyticsFactSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		/** "" for a fact of no account (a campaign without one). */
		accountId: { type: String, default: "" },
		contactId: { type: String, default: null },
		type: { type: String, enum: FACT_TYPES, required: true },
		/** UTC quarter hour since the epoch (services/analytics/buckets.ts). */
		quarter: { type: Number, required: true },
		dims: { type: [String], default: [] },
		value: { type: Number, default: 0 },
		ref: { type: String, default: null },
		deleted: { type: Boolean, default: false },
		recordedAt: { type: Date, required: true },
	},
	{ collection: "analytics_facts", versionKey: false }
);

// A quarter's counter row is recounted from exactly these rows.
analyticsFactSchema.index({ merchantId: 1, accountId: 1, type: 1, quarter: 1 });
analyticsFactSchema.index({ contactId: 1 });
// What changed since a rebuild started.
analyticsFactSchema.index({ merchantId: 1, recordedAt: 1 });

export type AnalyticsFact = InferSchemaType<typeof analyticsFactSchema> & { _id: string };
export const AnalyticsFactModel = mongoose.model("AnalyticsFact", analyticsFactSchema);
