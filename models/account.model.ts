import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

export const ACCOUNT_STATUSES = ["active", "inactive", "error"] as const;
export const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const;

const dayHours = new Schema({ start: String, end: String }, { _id: false });

export const accountSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		twitterUserId: { type: String, required: true },
		username: { type: String, required: true },
		displayName: { type: String, default: "" },
		profileImageUrl: { type: String, default: null },
		status: { type: String, enum: ACCOUNT_STATUSES, default: "active" },
		// Encrypted with lib/crypto.ts; erased on disconnect. Never in any response or log.
		oauthTokenEnc: { type: String, default: null },
		oauthTokenSecretEnc: { type: String, default: null },
		webhookId: { type: String, default: null },
		connectedAt: { type: Date, default: () => new Date() },
		disconnectedAt: { type: Date, default: null },
		autoReplyEnabled: { type: Boolean, default: false },
		businessHours: {
			enabled: { type: Boolean, default: false },
			timezone: { type: String, default: "Asia/Ho_Chi_Minh" },
			schedule: Object.fromEntries(WEEKDAYS.map(day => [day, { type: dayHours, default: undefined }])),
		},
	},
	{ timestamps: true, collection: "accounts" }
);

accountSchema.index({ merchantId: 1, status: 1 });
// GET /accounts: newest connection first, `_id` breaking ties (the page order).
accountSchema.index({ merchantId: 1, connectedAt: -1, _id: 1 });
accountSchema.index({ twitterUserId: 1 });
publicJson(accountSchema, ["oauthTokenEnc", "oauthTokenSecretEnc"]);

export type Account = InferSchemaType<typeof accountSchema> & { _id: string };
export const AccountModel = mongoose.model("Account", accountSchema);
