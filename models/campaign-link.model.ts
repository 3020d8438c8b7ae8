import mongoose, { Schema, type InferSchemaType } from "mongoose";

// A tracking link of one delivery: `GET /r/<token>` redirects to `url`. The token is derived
// from the delivery, the link's position and the URL with a keyed hash (unguessable, and the
// same when written twice). The first click of a delivery is decided by a unique insert in
// campaign_once (`click:<deliveryId>`).

export const campaignLinkSchema = new Schema(
	{
		_id: { type: String, required: true }, // the token
		merchantId: { type: String, required: true },
		campaignId: { type: String, required: true },
		contactId: { type: String, required: true },
		deliveryId: { type: String, required: true },
		url: { type: String, required: true },
		createdAt: { type: Date, default: () => new Date() },
	},
	{ collection: "campaign_links", versionKey: false }
);

campaignLinkSchema.index({ merchantId: 1, contactId: 1 });

export type CampaignLink = InferSchemaType<typeof campaignLinkSchema>;
export const CampaignLinkModel = mongoose.model("CampaignLink", campaignLinkSchema);
