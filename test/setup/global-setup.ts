import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/net.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";

// One FerretDB for the whole run, on a free port with its own throw-away data folder; each test
// file then uses a database of its own on it (test/helpers/node.ts). With MONGO_URL set, that
// server is used instead (a MongoDB 7, say).

declare global {
	var __FERRETDB__: RunningFerretDb | undefined;
}


export default async function globalSetup() {
	process.env.NODE_ENV = "test";
	if (process.env.MONGO_URL) {
		process.env.TEST_MONGO_BASE = process.env.MONGO_URL.replace(/\/[^/]*$/, "/");
		return;
	}
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-test-db-"));
	globalThis.__FERRETDB__ = await startFerretDb({ port: await freePort(), dataDir, log: () => {} });
	process.env.TEST_MONGO_BASE = globalThis.__FERRETDB__.url;
}
