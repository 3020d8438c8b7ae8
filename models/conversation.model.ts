import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";
import { activityKeys } from "../lib/activity-buckets.ts";
import { ConversationActivityDayModel } from "./conversation-activity-day.model.ts";
import { markActivityDays, markInsertedDays } from "../lib/activity-days.ts";

export const CONVERSATION_STATUSES = ["open", "closed"] as const;

export const conversationSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		contactId: { type: String, required: true },
		status: { type: String, enum: CONVERSATION_STATUSES, default: "open" },
		channel: { type: String, default: "direct_message" },
		/**
		 * The contact's one open conversation is claimed by a unique insert of this key
		 * ("open:<contactId>"); closing rewrites it to "closed:<id>", freeing the claim.
		 */
		openKey: { type: String, required: true },
		assignedToUserId: { type: String, default: null },
		messageCount: { type: Number, default: 0 },
		startedAt: { type: Date, default: () => new Date() },
		lastMessageAt: { type: Date, default: null },
		/** The inbox's order: the last message, or the start if none yet. */
		activityAt: { type: Date, default: null },
		/** Day and hour of `activityAt` (lib/activity-buckets.ts): the pages of GET /conversations. */
		activityKeys: { type: [String], default: [] },
		lastInboundAt: { type: Date, default: null },
		/** Set when the customer wrote and nobody has answered yet: the response-time clock. */
		awaitingReplySince: { type: Date, default: null },
		firstResponseAt: { type: Date, default: null },
		closedAt: { type: Date, default: null },
		closeReason: { type: String, default: null },
		/** The bot asked for a human; the bot stays quiet here until an agent answers or closes. */
		needsHuman: { type: Boolean, default: false },
		escalatedAt: { type: Date, default: null },
	},
	{ timestamps: true, collection: "conversations" }
);

conversationSchema.index({ openKey: 1 }, { unique: true });
// The inbox (GET /conversations) in its page order, with and without a status; its other
// filters (assignee, needsHuman) are checked on the rows this scan reads.
conversationSchema.index({ merchantId: 1, lastMessageAt: -1, startedAt: -1, _id: 1 });
conversationSchema.index({ merchantId: 1, status: 1, lastMessageAt: -1, startedAt: -1, _id: 1 });
// A contact's conversations (GET /contacts/:id/conversations), newest first.
conversationSchema.index({ merchantId: 1, contactId: 1, startedAt: -1, _id: 1 });
// An account's conversations: its statistics, and the inbox filtered by account.
conversationSchema.index({ accountId: 1, lastMessageAt: -1, startedAt: -1, _id: 1 });
// GET /conversations walks the merchant's conversations bucket by bucket of activity (an
// equality, which the embedded FerretDB pushes down; lib/activity-buckets.ts).
conversationSchema.index({ merchantId: 1, activityKeys: 1 });
publicJson(conversationSchema, ["openKey", "activityKeys"]);

/** The fields derived from a conversation's activity time, for a $set (or a new document). */
export function conversationActivityFields(at: Date): { activityAt: Date; activityKeys: string[] } {
	return { activityAt: at, activityKeys: activityKeys(at) };
}

conversationSchema.pre("validate", function () {
	Object.assign(this, conversationActivityFields(this.lastMessageAt ?? this.activityAt ?? this.startedAt ?? new Date()));
});
conversationSchema.post("save", async function () {
	await markActivityDays(ConversationActivityDayModel, this.merchantId, [this.activityAt]);
});
conversationSchema.post("insertMany", async function (docs: unknown) {
	await markInsertedDays(ConversationActivityDayModel, docs);
});

export type Conversation = InferSchemaType<typeof conversationSchema> & { _id: string };
export const ConversationModel = mongoose.model("Conversation", conversationSchema);
