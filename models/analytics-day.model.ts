import mongoose, { Schema, type InferSchemaType } from "mongoose";

const cellSchema = new Schema({ k: { type: String, default: "" }, q: Number, n: Number, s: Number }, { _id: false });

/**
 * One merchant, account and type over one UTC day, at quarter-hour detail: a cell per (key,
 * quarter) with a count and a sum; key "" is the type's total. A local day in any zone is a run
 * of these quarters, so per-day series in any zone are summed from here. Recomputed from the
 * day's quarter rows. `_id` from buckets.ts dayRowId.
 */
export const analyticsDaySchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		accountId: { type: String, default: "" },
		type: { type: String, required: true },
		day: { type: Number, required: true },
		n: { type: Number, default: 0 },
		s: { type: Number, default: 0 },
		cells: { type: [cellSchema], default: [] },
		at: { type: Date, required: true },
	},
	{ collection: "analytics_days", versionKey: false }
);

analyticsDaySchema.index({ merchantId: 1, type: 1, day: 1 });
// The rows a totals row is recomputed from.
analyticsDaySchema.index({ merchantId: 1, accountId: 1, day: 1 });
analyticsDaySchema.index({ merchantId: 1, at: 1 });

export type AnalyticsDay = InferSchemaType<typeof analyticsDaySchema> & { _id: string };
export const AnalyticsDayModel = mongoose.model("AnalyticsDay", analyticsDaySchema);
