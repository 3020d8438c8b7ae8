// FerretDB 1.24 (the embedded engine) runs an `update` command's statements one after another
// and keeps each statement's read of PostgreSQL open until the whole command ends
// (`handler/msg_update.go`: `defer closer.Close()` inside the loop over statements). A bulkWrite
// of n updates therefore holds n + 1 PostgreSQL connections at once: one of 100 hangs for good by
// itself on the project's pool of 70 (lib/ferretdb-pg.ts), and a few of 20–50 running side by
// side (a campaign's outcomes, the ledger's, the inbox writer's) can take every connection and
// never finish. Measured and explained in docs/campaigns.md (Sending fast).
//
// So bulk updates go in chunks of UPDATE_CHUNK statements: at most UPDATE_CHUNK + 1 connections
// per command whatever the batch size. Chunks whose order does not matter go CHUNKS_IN_FLIGHT at
// a time (each command is one of the driver's connections, so the node's pool still bounds what
// one node holds: lib/ferretdb-pg.ts sizes FerretDB's pool above it). On MongoDB this costs a few
// more round trips of a batch, not more work.

/** Update statements in one command. */
export const UPDATE_CHUNK = 5;

/** Commands of one bulk write in flight at once. */
export const CHUNKS_IN_FLIGHT = 3;

interface BulkWriter {
	bulkWrite(ops: never[], options: { ordered: boolean }): Promise<unknown>;
}

async function inFlight(commands: (() => Promise<unknown>)[], limit = CHUNKS_IN_FLIGHT): Promise<void> {
	let next = 0;
	const worker = async () => {
		while (next < commands.length) await commands[next++]();
	};
	await Promise.all(Array.from({ length: Math.min(limit, commands.length) }, worker));
}

/**
 * `model.bulkWrite(ops, {ordered})`, UPDATE_CHUNK operations per command. `ordered` where a
 * statement depends on what an earlier one did (MongoDB may run an unordered list in any order):
 * then one command after the other; otherwise CHUNKS_IN_FLIGHT at a time.
 */
export async function bulkWriteInChunks(model: BulkWriter, ops: object[], chunk = UPDATE_CHUNK, ordered = false): Promise<void> {
	const commands: (() => Promise<unknown>)[] = [];
	for (let i = 0; i < ops.length; i += chunk) {
		const part = ops.slice(i, i + chunk) as never[];
		commands.push(() => model.bulkWrite(part, { ordered }));
	}
	await inFlight(commands, ordered ? 1 : CHUNKS_IN_FLIGHT);
}

/**
 * Groups of statements, each group in its order (one document's statements that depend on each
 * other), groups independent of each other: a group is never split across commands, so commands
 * go CHUNKS_IN_FLIGHT at a time. A group longer than a chunk is a command of its own.
 */
export async function bulkWriteGroups(model: BulkWriter, groups: object[][], chunk = UPDATE_CHUNK): Promise<void> {
	const commands: (() => Promise<unknown>)[] = [];
	let part: object[] = [];
	const flush = () => {
		if (!part.length) return;
		const ops = part as never[];
		commands.push(() => model.bulkWrite(ops, { ordered: true }));
		part = [];
	};
	for (const group of groups) {
		if (part.length && part.length + group.length > chunk) flush();
		part.push(...group);
	}
	flush();
	await inFlight(commands);
}
