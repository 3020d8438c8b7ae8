import mongoose, { Schema, type InferSchemaType } from "mongoose";

export const AI_REPLY_STATUSES = ["answered", "sent", "failed", "skipped"] as const;

/**
 * What the bot did about one inbound message, keyed by that message's id. Inserting it is the
 * bot's decision, made once: a replayed `message.received` finds it and only finishes what was
 * left undone (escalation, the send, whose inbox idempotency key is `bot:<messageId>`), with the
 * same reply, never asking Claude again. `answered`: decided, not yet sent.
 */
export const aiReplySchema = new Schema(
	{
		_id: { type: String, required: true }, // the inbound message's id
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		conversationId: { type: String, required: true },
		contactId: { type: String, required: true },
		status: { type: String, enum: AI_REPLY_STATUSES, required: true },
		/** For `skipped`: needs_human, business_hours, superseded, conversation_closed, opted_out, no_prior_contact… */
		reason: { type: String, default: null },
		reply: { type: String, default: null },
		intent: { type: String, default: null },
		confidence: { type: Number, default: null },
		needsHumanEscalation: { type: Boolean, default: false },
		escalationReason: { type: String, default: null },
		provider: { type: String, default: null },
		sentMessageId: { type: String, default: null },
	},
	{ timestamps: true, collection: "ai_replies" }
);

aiReplySchema.index({ conversationId: 1, createdAt: -1 });

export type AiReply = InferSchemaType<typeof aiReplySchema> & { _id: string };
export const AiReplyModel = mongoose.model("AiReply", aiReplySchema);
