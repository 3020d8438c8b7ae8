import { loadConfig, resetConfig, type Config } from "./config.ts";
import { acquireDb, releaseDb } from "./db.ts";
import { startFerretDb, type RunningFerretDb } from "./ferretdb.ts";

/**
 * For command-line tools: the database `npm start` uses (MONGO_URL, or the embedded FerretDB,
 * reused when a node already runs it, else started here), connected. `close()` undoes both.
 */
export async function openCliDatabase(): Promise<{ config: Config; close(): Promise<void> }> {
	let cfg = loadConfig();
	let ferret: RunningFerretDb | null = null;
	if (!cfg.mongoUrl) {
		ferret = await startFerretDb({ port: cfg.ferretdbPort, dataDir: cfg.dataDir });
		process.env.MONGO_URL = `${ferret.url}mktx`;
		cfg = resetConfig();
	}
	await acquireDb(cfg.mongoUrl!);
	return {
		config: cfg,
		async close() {
			await releaseDb();
			await ferret?.stop();
		},
	};
}
