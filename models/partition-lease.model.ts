import mongoose, { Schema, type InferSchemaType } from "mongoose";

// Who writes a partition (an X account's conversations) during one time slot: the node whose
// insert of `_id = "<queue>:<partition>:<slot>"` won. Only inserts into a unique index are
// atomic on FerretDB and MongoDB alike, so ownership is an insert, never an update. See
// lib/partition-lease.ts for the rules (slots, pre-claiming the next one, the stop margin).

export const partitionLeaseSchema = new Schema(
	{
		_id: { type: String, required: true },
		queue: { type: String, required: true },
		partition: { type: String, required: true },
		slot: { type: Number, required: true },
		owner: { type: String, required: true },
		expiresAt: { type: Date, required: true },
	},
	{ collection: "partition_leases", versionKey: false }
);

// Pruning of slots long past.
partitionLeaseSchema.index({ expiresAt: 1 });

export type PartitionLease = InferSchemaType<typeof partitionLeaseSchema>;
export const PartitionLeaseModel = mongoose.model("PartitionLease", partitionLeaseSchema);
