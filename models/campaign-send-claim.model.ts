import mongoose, { Schema, type InferSchemaType } from "mongoose";

// The right to send one campaign message, taken by inserting `_id = "<campaignId>:<contactId>"`
// BEFORE the call to X. The insert into the unique _id index is atomic on FerretDB and MongoDB
// alike (an update of the delivery row would not be on FerretDB 1.x): of two workers, exactly
// one gets it. A claim is removed only when nothing was sent (a 429), so the recipient can be
// tried again later; a claim without an outcome after a while makes the delivery `unknown`.

export const campaignSendClaimSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		campaignId: { type: String, required: true },
		contactId: { type: String, required: true },
		nodeID: { type: String, default: null },
		claimedAt: { type: Date, required: true },
	},
	{ collection: "campaign_send_claims", versionKey: false }
);

campaignSendClaimSchema.index({ merchantId: 1, contactId: 1 });

export type CampaignSendClaim = InferSchemaType<typeof campaignSendClaimSchema>;
export const CampaignSendClaimModel = mongoose.model("CampaignSendClaim", campaignSendClaimSchema);
