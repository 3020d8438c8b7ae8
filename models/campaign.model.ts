import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

// A campaign: one template sent to the eligible contacts of some segments, between
// schedule.startAt and schedule.endAt. Its recipients and their outcomes live in
// campaign_deliveries (one row each); counts are always taken from there, never kept here.

export const CAMPAIGN_STATUSES = ["draft", "scheduled", "running", "paused", "completed", "cancelled"] as const;
export type CampaignStatus = (typeof CAMPAIGN_STATUSES)[number];

/** Sending for an account (or "*": every account) waits until `until` (a 429 from the send limits or X, or X out: `outages` in a row). */
const holdSchema = new Schema(
	{ accountId: { type: String, required: true }, until: { type: Date, required: true }, outages: { type: Number, default: undefined } },
	{ _id: false }
);

export const campaignSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		name: { type: String, required: true },
		templateId: { type: String, required: true },
		segmentIds: { type: [String], default: [] },
		schedule: {
			startAt: { type: Date, default: null },
			endAt: { type: Date, default: null },
		},
		// Flat map of names to strings, numbers or booleans (checked on create and update).
		variables: { type: Schema.Types.Mixed, default: {} },
		status: { type: String, enum: CAMPAIGN_STATUSES, required: true },
		/** Eligible recipients: counted when scheduled, then the snapshot's figure once started. */
		targetContactCount: { type: Number, default: null },

		// Taken at start, so every recipient gets the same message and the same audience
		// whatever is edited meanwhile.
		template: { type: Schema.Types.Mixed, default: null },
		segments: { type: Schema.Types.Mixed, default: null },
		snapshotAt: { type: Date, default: null },
		/**
		 * The X accounts that send it (its eligible recipients' own accounts), set with the snapshot;
		 * `accountId` is the one sending to most of them: analytics count the completion under it.
		 */
		accountIds: { type: [String], default: [] },
		accountId: { type: String, default: null },

		/** The job chain that owns the sending; a job of another chain stops (see services/campaigns/runner.ts). */
		chain: { type: String, default: null },
		nextRunAt: { type: Date, default: null },
		heartbeatAt: { type: Date, default: null },
		holds: { type: [holdSchema], default: [] },

		startedAt: { type: Date, default: null },
		pausedAt: { type: Date, default: null },
		completedAt: { type: Date, default: null },
		cancelledAt: { type: Date, default: null },
		cancelReason: { type: String, default: null },
	},
	{ timestamps: true, collection: "campaigns", minimize: false }
);

// GET /campaigns in its page order, with and without a status.
campaignSchema.index({ merchantId: 1, createdAt: -1, _id: 1 });
campaignSchema.index({ merchantId: 1, status: 1, createdAt: -1, _id: 1 });
campaignSchema.index({ status: 1, "schedule.startAt": 1 });
campaignSchema.index({ merchantId: 1, templateId: 1 });
campaignSchema.index({ merchantId: 1, segmentIds: 1 });
publicJson(campaignSchema);

export type Campaign = InferSchemaType<typeof campaignSchema> & { _id: string };
export const CampaignModel = mongoose.model("Campaign", campaignSchema);
