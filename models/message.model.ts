import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

/** `unknown`: a send whose outcome was lost with its node (X may or may not have it); never resent blindly. */
export const MESSAGE_STATUSES = ["received", "pending", "sent", "failed", "read", "unknown"] as const;

const attachmentSchema = new Schema({ type: String, url: String, mediaId: String }, { _id: false });

export const messageSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		conversationId: { type: String, required: true },
		contactId: { type: String, required: true },
		direction: { type: String, enum: ["inbound", "outbound"], required: true },
		type: { type: String, default: "text" },
		content: { type: String, default: "" },
		attachments: { type: [attachmentSchema], default: [] },
		isFromBot: { type: Boolean, default: false },
		/** X's id of the DM event once known (inbound: always; outbound: after X accepted it). */
		twitterMessageId: { type: String, default: null },
		status: { type: String, enum: MESSAGE_STATUSES, required: true },
		failureReason: { type: String, default: null },
		sentByUserId: { type: String, default: null },
		/** What sent it, when not an agent: "campaign:<id>", "flow:<runId>", "bot". */
		origin: { type: String, default: null },
		sentAt: { type: Date, default: null },
		readAt: { type: Date, default: null },
		/** For a reply: seconds since the customer's message it answered (response-time figures). */
		responseSeconds: { type: Number, default: null },
		/** What storing this message created, so its events can be emitted again after a crash. */
		createdContact: { type: Boolean, default: false },
		createdConversation: { type: Boolean, default: false },
		/**
		 * The account, on a message written in X's app (stored by the inbox writer) while it may
		 * still turn out to be X's echo of one of our own sends whose outcome is not applied yet;
		 * absent otherwise (cleared once matched or too old to be: services/inbox/echoes.ts).
		 */
		echoCandidateOf: { type: String },
	},
	{ timestamps: true, collection: "messages" }
);

messageSchema.index({ conversationId: 1, createdAt: 1, _id: 1 });
// A conversation's messages in the order they were sent (GET /conversations/:id/messages, its cursor).
messageSchema.index({ conversationId: 1, sentAt: 1, _id: 1 });
messageSchema.index({ merchantId: 1, createdAt: -1 });
messageSchema.index({ accountId: 1, twitterMessageId: 1 });
messageSchema.index({ contactId: 1, direction: 1 });
// The inbox writer's few echo candidates of an account, in one equality query (sparse on MongoDB:
// only the candidates are in it; FerretDB ignores `sparse` and serves the equality all the same).
messageSchema.index({ echoCandidateOf: 1 }, { sparse: true });
publicJson(messageSchema, ["echoCandidateOf"]);

export type Message = InferSchemaType<typeof messageSchema> & { _id: string };
export const MessageModel = mongoose.model("Message", messageSchema);
