import mongoose, { Schema, type InferSchemaType } from "mongoose";

// The inbox's queue: one row per thing that changes an account's conversations, waiting for the
// account's one writer (services/inbox/writer.ts, run by mixins/partition-worker.mixin.ts).
// Rows come from X (a DM, a read receipt: enqueued by the webhooks service once it stored the
// raw delivery) and from our own sends (`sent`, recorded by the send pipeline). The `_id` is
// derived from what the row is ("dm:<account>:<X event id>"), so X's retries and a repeated
// enqueue insert nothing new. The writer deletes a row once applied: the queue holds only work.
// Agents' actions on a conversation (close, assign) and the bot's escalation are rows too
// ("close:<conversation>:<request id>"), applied in order with the messages
// (services/inbox/conversation-actions.ts): on FerretDB two concurrent updates of one document
// can lose one, so conversations have one writer.

export const ACTIVITY_KINDS = ["dm", "read", "sent", "close", "assign", "escalate"] as const;
export const ACTIVITY_STATUSES = ["pending", "failed"] as const;

export const inboxActivitySchema = new Schema(
	{
		_id: { type: String, required: true },
		/** The partition: every row of an account is applied by the one holder of its lease. */
		accountId: { type: String, required: true },
		merchantId: { type: String, required: true },
		kind: { type: String, enum: ACTIVITY_KINDS, required: true },
		/** When it happened (X's event time for DMs, the send time for ours): messages are shown in this order. */
		at: { type: Date, required: true },
		/** Order of application within the account: arrival, so a reply is applied before what the customer wrote after it. */
		receivedAt: { type: Date, default: () => new Date() },
		data: { type: Schema.Types.Mixed, required: true },
		/** `failed`: given up after MAX_ATTEMPTS batches (kept for inspection, never blocks the account). */
		status: { type: String, enum: ACTIVITY_STATUSES, default: "pending" },
		attempts: { type: Number, default: 0 },
		lastError: { type: String, default: null },
	},
	{ collection: "inbox_activity", versionKey: false, minimize: false }
);

// The writer's batch: an account's pending rows in order. Discovery: the oldest pending rows.
inboxActivitySchema.index({ status: 1, accountId: 1, receivedAt: 1, _id: 1 });
inboxActivitySchema.index({ status: 1, receivedAt: 1 });
// GDPR erase of a contact's rows still waiting.
inboxActivitySchema.index({ accountId: 1, "data.customerId": 1 });

export type InboxActivity = InferSchemaType<typeof inboxActivitySchema> & { _id: string };
export const InboxActivityModel = mongoose.model("InboxActivity", inboxActivitySchema);
