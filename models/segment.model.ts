import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

export const SEGMENT_MATCH = ["all", "any"] as const;

// `value` is a scalar or a flat list of scalars, checked by services/segments/compile.ts before
// it is stored: never an object, so nothing stored here can read as a query operator.
const conditionSchema = new Schema(
	{
		field: { type: String, required: true },
		operator: { type: String, required: true },
		value: { type: Schema.Types.Mixed, default: null },
	},
	{ _id: false, minimize: false }
);

export const segmentSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		name: { type: String, required: true },
		description: { type: String, default: "" },
		match: { type: String, enum: SEGMENT_MATCH, default: "all" },
		conditions: { type: [conditionSchema], default: [] },
	},
	{ timestamps: true, collection: "segments" }
);

// GET /segments in its page order (a name search is checked on the rows read).
segmentSchema.index({ merchantId: 1, createdAt: -1, _id: 1 });
publicJson(segmentSchema);

export type Segment = InferSchemaType<typeof segmentSchema> & { _id: string };
export const SegmentModel = mongoose.model("Segment", segmentSchema);
