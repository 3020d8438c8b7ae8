import mongoose, { Schema, type InferSchemaType } from "mongoose";

// Exactly-once decisions of the flows, each an insert into the unique `_id` index (atomic on
// FerretDB and MongoDB alike, where a conditional update of the run would not be on FerretDB):
// - `step:<runId>:<path>`: the right to do one step, taken BEFORE doing it. Removed only when
//   the step did nothing (a send refused by a send limit) so it can be tried again; a claim
//   left by a node that died is taken over after a while (a send is then guarded by the
//   inbox's idempotency key: the repeat returns the first send's message).
// - `active:<flowId>:<contactId>`: the contact is in an active run of the flow (no re-entry);
//   removed when that run ends.

export const flowClaimSchema = new Schema(
	{
		_id: { type: String, required: true },
		merchantId: { type: String, required: true },
		runId: { type: String, required: true },
		/** Who holds it, so only the holder (or a takeover of a stale one) removes it. */
		token: { type: String, required: true },
		claimedAt: { type: Date, required: true },
	},
	{ collection: "flow_claims", versionKey: false }
);

flowClaimSchema.index({ merchantId: 1, runId: 1 });

export type FlowClaim = InferSchemaType<typeof flowClaimSchema>;
export const FlowClaimModel = mongoose.model("FlowClaim", flowClaimSchema);
