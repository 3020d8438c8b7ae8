import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { freePort } from "../../lib/net.ts";
import { config } from "../../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { dropPgDatabase, listPgDatabases, withDatabase } from "../../lib/ferretdb-pg.ts";

// One FerretDB for the whole run, on a free port, on PostgreSQL in a database of the run's own
// (several runs share this machine's PostgreSQL at once), dropped in teardown; each test file
// then uses a database of its own on it (test/helpers/node.ts). Without a PostgreSQL (or with
// FERRETDB_HANDLER=sqlite) it runs on SQLite in a throw-away folder. With MONGO_URL set, that
// server is used instead (a MongoDB 7, say).

declare global {
	var __FERRETDB__: RunningFerretDb | undefined;
	var __FERRETDB_PG_URL__: string | undefined;
}

/** Run databases are named after the jest process, so a later run can drop those of a dead one. */
const RUN_PREFIX = "mktx_test_";

function alive(pid: number): boolean {
	try {
		process.kill(pid, 0);
		return true;
	} catch (err) {
		return (err as NodeJS.ErrnoException).code === "EPERM";
	}
}

async function dropDatabasesOfDeadRuns(baseUrl: string) {
	const names = await listPgDatabases(baseUrl, RUN_PREFIX).catch(() => []);
	for (const name of names) {
		const pid = Number(name.slice(RUN_PREFIX.length).split("_")[0]);
		if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await dropPgDatabase(withDatabase(baseUrl, name)).catch(() => {});
	}
}

export default async function globalSetup() {
	process.env.NODE_ENV = "test";
	if (process.env.MONGO_URL) {
		process.env.TEST_MONGO_BASE = process.env.MONGO_URL.replace(/\/[^/]*$/, "/");
		return;
	}
	const { postgresqlUrl } = config().ferretdb;
	const runUrl = withDatabase(postgresqlUrl, `${RUN_PREFIX}${process.pid}_${randomBytes(4).toString("hex")}`);
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-test-db-"));
	const lines: string[] = [];
	const ferret = await startFerretDb({ port: await freePort(), dataDir, postgresqlUrl: runUrl, log: line => lines.push(line) });
	globalThis.__FERRETDB__ = ferret;
	if (ferret.handler === "postgresql") {
		globalThis.__FERRETDB_PG_URL__ = runUrl;
		process.env.TEST_FERRETDB_PG_URL = runUrl;
		await dropDatabasesOfDeadRuns(postgresqlUrl);
	} else {
		// The one line that says why the run is on SQLite (and what that costs).
		console.error(`\n${lines.at(-1)}`);
	}
	process.env.TEST_MONGO_BASE = ferret.url;
	process.env.TEST_FERRETDB_HANDLER = ferret.handler;
}
