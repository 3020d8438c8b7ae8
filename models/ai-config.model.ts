import mongoose, { Schema, type InferSchemaType } from "mongoose";

/**
 * An account's AI chatbot settings (PUT /ai/accounts/:accountId/config). One row per account,
 * keyed by the account's id, so reading it is an `_id` lookup on FerretDB too. No row: defaults
 * (services/ai/settings.ts).
 */
export const aiConfigSchema = new Schema(
	{
		_id: { type: String, required: true }, // the account's id
		merchantId: { type: String, required: true },
		enabled: { type: Boolean, default: false },
		model: { type: String, required: true },
		systemPrompt: { type: String, default: "" },
		temperature: { type: Number, required: true },
		escalationThreshold: { type: Number, required: true },
		maxReplyChars: { type: Number, required: true },
	},
	{ timestamps: true, collection: "ai_configs" }
);

export type AiConfig = InferSchemaType<typeof aiConfigSchema> & { _id: string };
export const AiConfigModel = mongoose.model("AiConfig", aiConfigSchema);
