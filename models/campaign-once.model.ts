import mongoose, { Schema } from "mongoose";

// Things that must happen once per campaign, decided by a unique insert of their key:
// "started:<id>" and "completed:<id>" (the events), "step:<chain>:<n>" (the next job of a
// chain is scheduled by one runner only), "click:<deliveryId>" (the first click counts).

export const campaignOnceSchema = new Schema(
	{
		_id: { type: String, required: true },
		campaignId: { type: String, required: true },
		at: { type: Date, default: () => new Date() },
	},
	{ collection: "campaign_once", versionKey: false }
);

campaignOnceSchema.index({ campaignId: 1 });

export const CampaignOnceModel = mongoose.model("CampaignOnce", campaignOnceSchema);
