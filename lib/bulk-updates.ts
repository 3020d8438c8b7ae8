// FerretDB 1.24 (the embedded engine) runs an `update` command's statements one after another
// and keeps each statement's read of PostgreSQL open until the whole command ends
// (`handler/msg_update.go`: `defer closer.Close()` inside the loop over statements). A bulkWrite
// of n updates therefore holds n + 1 PostgreSQL connections at once: one of 100 hangs for good by
// itself on the project's pool of 70 (lib/ferretdb-pg.ts), and a few of 20–50 running side by
// side (a campaign's outcomes, the ledger's, the inbox writer's) can take every connection and
// never finish. Measured and explained in docs/campaigns.md (Sending fast).
//
// So bulk updates go in chunks of UPDATE_CHUNK statements, one chunk after the other: at most
// UPDATE_CHUNK + 1 connections per command whatever the batch size. On MongoDB this costs a few
// more round trips of a batch, not more work.

/** Update statements in one command. */
export const UPDATE_CHUNK = 5;

interface BulkWriter {
	bulkWrite(ops: never[], options: { ordered: boolean }): Promise<unknown>;
}

/**
 * `model.bulkWrite(ops, {ordered})`, UPDATE_CHUNK operations per command. `ordered` where a
 * statement depends on what an earlier one did (MongoDB may run an unordered list in any order).
 */
export async function bulkWriteInChunks(model: BulkWriter, ops: object[], chunk = UPDATE_CHUNK, ordered = false): Promise<void> {
	for (let i = 0; i < ops.length; i += chunk) await model.bulkWrite(ops.slice(i, i + chunk) as never[], { ordered });
}
