import mongoose, { Schema, type InferSchemaType } from "mongoose";

// One row per attempt to send a DM through X: a numbered slot in a scope's sequence, claimed by
// inserting `_id = "<scope>:<seq>"` (an insert into the unique _id index is atomic on FerretDB
// and MongoDB alike). Send limits count the rows before a claim; see services/x/send-ledger.ts
// and docs/x-channel.md. Rows are never deleted while they can still count (a gap in the
// sequence would let a late claim slip in behind one already decided); old ones are pruned.

export const SEND_KINDS = ["agent", "bot", "campaign", "flow"] as const;
/** pending: allowed, being sent (counts); sent: X accepted it (counts); rejected: over a limit; released: X refused it. */
export const LEDGER_STATES = ["pending", "sent", "rejected", "released"] as const;
export const COUNTED_STATES = ["pending", "sent"] as const;

export const sendLedgerSchema = new Schema(
	{
		_id: { type: String, required: true },
		scope: { type: String, required: true },
		seq: { type: Number, required: true },
		at: { type: Date, required: true },
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		kind: { type: String, enum: SEND_KINDS, required: true },
		state: { type: String, enum: LEDGER_STATES, required: true },
		twitterMessageId: { type: String, default: null },
		reason: { type: String, default: null },
	},
	{ collection: "x_send_ledger", versionKey: false }
);

sendLedgerSchema.index({ scope: 1, seq: -1 });
sendLedgerSchema.index({ scope: 1, at: 1 });
sendLedgerSchema.index({ scope: 1, accountId: 1, at: 1 });
sendLedgerSchema.index({ scope: 1, merchantId: 1, at: 1 });

export type SendLedgerEntry = InferSchemaType<typeof sendLedgerSchema>;
export const SendLedgerModel = mongoose.model("SendLedger", sendLedgerSchema);
