import mongoose, { Schema, type InferSchemaType } from "mongoose";

/**
 * Every type's totals for one merchant, account and UTC day, as two JSON texts with sorted keys:
 * `totals` {"in":{"n":34,"s":0},"out":{...},...} and `quarters` {"in":[q,n,s,q,n,s,...],...}
 * (sparse, by quarter hour). The overview of a year is one read of a few hundred of these rows.
 * Why text: FerretDB reads every row of a collection for any query and decodes every value in
 * it; one text instead of a few hundred typed values makes that read about three times cheaper
 * (measured), and the quarters ride along instead of costing a lookup per cut day. Only this
 * service reads them (services/analytics/read.ts). Recomputed from the day's rows of
 * analytics_days. `_id` from buckets.ts dayTotalsRowId.
 */
export const analyticsDayTotalSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		accountId: { type: String, default: "" },
		day: { type: Number, required: true },
		totals: { type: String, required: true },
		quarters: { type: String, required: true },
		at: { type: Date, required: true },
	},
	{ collection: "analytics_day_totals", versionKey: false }
);

analyticsDayTotalSchema.index({ merchantId: 1, day: 1 });
analyticsDayTotalSchema.index({ merchantId: 1, accountId: 1, day: 1 });
analyticsDayTotalSchema.index({ merchantId: 1, at: 1 });

export type AnalyticsDayTotal = InferSchemaType<typeof analyticsDayTotalSchema> & { _id: string };
export const AnalyticsDayTotalModel = mongoose.model("AnalyticsDayTotal", analyticsDayTotalSchema);
