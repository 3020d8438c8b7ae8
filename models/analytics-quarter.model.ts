import mongoose, { Schema, type InferSchemaType } from "mongoose";

const cellSchema = new Schema({ k: { type: String, required: true }, n: Number, s: Number }, { _id: false });

/**
 * The facts of one merchant, account and type in one UTC quarter hour, counted: `n` facts whose
 * values sum to `s`, and the same per breakdown key (`cells`). Recounted from its facts, never
 * incremented (updates are not atomic on FerretDB). `_id` from buckets.ts quarterRowId.
 */
export const analyticsQuarterSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		accountId: { type: String, default: "" },
		type: { type: String, required: true },
		/** UTC day since the epoch, and the quarter's place in it (0-95). */
		day: { type: Number, required: true },
		q: { type: Number, required: true },
		n: { type: Number, default: 0 },
		s: { type: Number, default: 0 },
		cells: { type: [cellSchema], default: [] },
		at: { type: Date, required: true },
	},
	{ collection: "analytics_quarters", versionKey: false }
);

analyticsQuarterSchema.index({ merchantId: 1, accountId: 1, type: 1, day: 1 });
analyticsQuarterSchema.index({ merchantId: 1, at: 1 });

export type AnalyticsQuarter = InferSchemaType<typeof analyticsQuarterSchema> & { _id: string };
export const AnalyticsQuarterModel = mongoose.model("AnalyticsQuarter", analyticsQuarterSchema);
