import mongoose, { Schema, type InferSchemaType } from "mongoose";

export const FLOW_RUN_STATUSES = ["active", "completed", "failed", "cancelled"] as const;
export type FlowRunStatus = (typeof FLOW_RUN_STATUSES)[number];
/** A run keeps its latest steps only. */
export const RUN_LOG_LIMIT = 50;

const logEntrySchema = new Schema(
	{
		at: { type: Date, required: true },
		/** The step path ("3.then.0") and the node's own id when it has one. */
		step: { type: String, required: true },
		nodeId: { type: String, default: null },
		type: { type: String, required: true },
		outcome: { type: String, required: true },
		detail: { type: String, default: null },
	},
	{ _id: false }
);

// One run per (flow, contact, trigger event): `_id` is derived from the three (lib/ids.ts
// uuidFromName), so the same event delivered twice inserts the same id and starts one run.
export const flowRunSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		flowId: { type: String, required: true },
		contactId: { type: String, required: true },
		activation: { type: Number, required: true },
		trigger: {
			type: { type: String, required: true },
			eventKey: { type: String, required: true },
			conversationId: { type: String, default: null },
			messageId: { type: String, default: null },
		},
		status: { type: String, enum: FLOW_RUN_STATUSES, default: "active" },
		/** The next step to do; null once the run is over. */
		position: { type: String, default: "0" },
		/** When the next step may run (a wait, a delay or a send limit); on the flows' clock. */
		dueAt: { type: Date, required: true },
		/** The step whose `delay` has been scheduled already (so it is not delayed twice). */
		delayedStep: { type: String, default: null },
		log: { type: [logEntrySchema], default: [] },
		startedAt: { type: Date, required: true },
		finishedAt: { type: Date, default: null },
		error: { type: String, default: null },
	},
	{ collection: "flow_runs", versionKey: false, minimize: false }
);

// GET /flows/:id/runs in its page order, with and without a status.
flowRunSchema.index({ flowId: 1, startedAt: -1, _id: 1 });
flowRunSchema.index({ flowId: 1, status: 1, startedAt: -1, _id: 1 });
flowRunSchema.index({ status: 1, dueAt: 1 });
flowRunSchema.index({ merchantId: 1, contactId: 1 });

export type FlowRun = InferSchemaType<typeof flowRunSchema> & { _id: string };
export const FlowRunModel = mongoose.model("FlowRun", flowRunSchema);
