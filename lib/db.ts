import mongoose from "mongoose";
import { config } from "./config.ts";
import { installQueryGuard } from "./query-guard.ts";

// One mongoose connection per node (process), shared by every service on it. Services that use
// the database call acquire() when they start and release() when they stop; the last release
// closes the connection, so a graceful shutdown closes the database after in-flight work.

/**
 * Most operations this node runs on the database at once. The embedded FerretDB on PostgreSQL
 * sizes its own pool from it (lib/ferretdb-pg.ts): an operation there can hold one PostgreSQL
 * connection while it waits for a second, so its pool must stay above twice what all its clients
 * send at once. Ten is plenty for a node (the writers batch; FerretDB, not the pool, is the limit).
 */
export const DB_MAX_POOL_SIZE = 10;

/** For a helper connection beside the node's (tests, benchmarks, tools): a few operations at a time. */
export const SIDE_POOL = { maxPoolSize: 2 } as const;

let users = 0;
let connecting: Promise<typeof mongoose> | null = null;

export async function acquireDb(url: string): Promise<typeof mongoose> {
	users++;
	if (!connecting) {
		const guard = config().queryGuard;
		connecting = mongoose.connect(url, {
			serverSelectionTimeoutMS: 10_000,
			maxPoolSize: DB_MAX_POOL_SIZE,
			retryWrites: retryWritesFor(url),
			// The query guard reads every command as it is sent (tests; off in production). Left
			// unset otherwise, so a connection string's `monitorCommands=true` (the benchmarks) holds.
			...(guard.mode !== "off" ? { monitorCommands: true } : {}),
		});
		if (guard.mode !== "off")
			connecting = connecting.then(async m => (await installQueryGuard(m.connection.getClient(), guard.mode, guard.logFile), m));
	}
	try {
		return await connecting;
	} catch (err) {
		users--;
		connecting = null;
		throw err;
	}
}

/**
 * Retryable writes on unless the connection string says `retryWrites=false`. The driver uses them
 * only where the server offers them (a replica set or a sharded cluster, from its `hello`), so
 * production on a replica set retries a write once after a failover, and a standalone server,
 * which the embedded FerretDB always is, is never sent one (FerretDB has no transactions).
 */
export function retryWritesFor(url: string): boolean {
	return !/[?&]retryWrites=false(&|$)/i.test(url);
}

export async function releaseDb(): Promise<void> {
	users = Math.max(0, users - 1);
	if (users === 0 && connecting) {
		connecting = null;
		await mongoose.disconnect();
	}
}

/**
 * Closes the node's connection whoever still holds it: a process that runs one broker after
 * another (the benchmarks) starts each on a fresh connection, whatever the last one left open.
 */
export async function closeDb(): Promise<void> {
	users = 0;
	connecting = null;
	await mongoose.disconnect();
}

/** True when the connection is up and the server answers a ping. */
export async function dbAnswers(): Promise<boolean> {
	const db = mongoose.connection.db;
	if (mongoose.connection.readyState !== 1 || !db) return false;
	try {
		await db.admin().command({ ping: 1 });
		return true;
	} catch {
		return false;
	}
}
