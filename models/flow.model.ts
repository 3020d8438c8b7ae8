import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

export const FLOW_STATUSES = ["inactive", "active"] as const;
export type FlowStatus = (typeof FLOW_STATUSES)[number];

export const flowSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		name: { type: String, required: true },
		description: { type: String, default: null },
		status: { type: String, enum: FLOW_STATUSES, default: "inactive" },
		// Checked by services/flows/definition.ts before every write and activation.
		trigger: { type: Schema.Types.Mixed, required: true },
		nodes: { type: Schema.Types.Mixed, required: true },
		/** The templates the nodes send, for `flows.templateInUse`. */
		templateIds: { type: [String], default: [] },
		allowReentry: { type: Boolean, default: false },
		/**
		 * Bumped by every activation. A run belongs to one activation: a run of an earlier one is
		 * cancelled at its next step, so reactivating never revives what deactivation stopped.
		 */
		activation: { type: Number, default: 0 },
		activatedAt: { type: Date, default: null },
		deactivatedAt: { type: Date, default: null },
		/** Per round-robin assign node (its path, dots as "_"): a hint of its next turn (services/flows/round-robin.ts). */
		turns: { type: Schema.Types.Mixed, default: {} },
	},
	{ timestamps: true, collection: "flows", minimize: false }
);

// GET /flows in its page order, with and without a status.
flowSchema.index({ merchantId: 1, createdAt: -1, _id: 1 });
flowSchema.index({ merchantId: 1, status: 1, createdAt: -1, _id: 1 });
flowSchema.index({ status: 1, "trigger.type": 1, merchantId: 1 });
flowSchema.index({ merchantId: 1, templateIds: 1 });
publicJson(flowSchema);

export type Flow = InferSchemaType<typeof flowSchema> & { _id: string };
export const FlowModel = mongoose.model("Flow", flowSchema);
