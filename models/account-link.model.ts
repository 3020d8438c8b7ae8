import mongoose, { Schema } from "mongoose";

/**
 * "This X user is connected to that merchant": one row per X user id, claimed by a unique
 * insert when an account is connected and removed when it is disconnected. It is what makes an
 * X account belong to one merchant at a time, even when two connect it at the same moment.
 */
export const accountLinkSchema = new Schema(
	{
		_id: { type: String, required: true }, // X user id
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		linkedAt: { type: Date, default: () => new Date() },
	},
	{ collection: "account_links" }
);

export const AccountLinkModel = mongoose.model("AccountLink", accountLinkSchema);
