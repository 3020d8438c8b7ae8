import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../lib/net.ts";
import { ServiceBroker } from "moleculer";
import { config, resetConfig } from "../lib/config.ts";
import { closeDb } from "../lib/db.ts";
import { startFerretDb, type RunningFerretDb } from "../lib/ferretdb.ts";
import { dropPgDatabase, withDatabase } from "../lib/ferretdb-pg.ts";
import { loadServiceSchemas } from "../lib/services.ts";
import { progress } from "./measure.ts";

// The benchmark's world: one database server per run (MONGO_URL, or a throw-away FerretDB started
// here, the only place the bench starts one), a fresh database per scenario, and brokers that are
// all stopped, with the connection closed, before the next scenario starts.

const brokers = new Set<ServiceBroker>();
let running: RunningFerretDb | null = null;

/** The FerretDB this run started (null against MONGO_URL): a scenario creates on its PostgreSQL what `npm start` would. */
export function runningFerretDb(): RunningFerretDb | null {
	return running;
}

export async function startDatabase(): Promise<{ url: string; stop(): Promise<void>; ferret: RunningFerretDb | null }> {
	if (process.env.MONGO_URL) return { url: process.env.MONGO_URL, stop: async () => {}, ferret: null };
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-bench-db-"));
	// On PostgreSQL, a database of the run's own, dropped at the end (not the development `mktx`).
	const postgresqlUrl = withDatabase(config().ferretdb.postgresqlUrl, `mktx_bench_${process.pid}_${Date.now()}`);
	const ferret = await startFerretDb({ port: await freePort(), dataDir, postgresqlUrl, log: progress });
	// A scenario that wants the indexes `npm start` adds on PostgreSQL (bin/start.ts) creates them here.
	if (ferret.postgresqlUrl) process.env.BENCH_POSTGRESQL_URL = ferret.postgresqlUrl;
	running = ferret;
	const stop = async () => {
		await ferret.stop();
		if (ferret.postgresqlUrl) await dropPgDatabase(ferret.postgresqlUrl);
	};
	return { url: `${ferret.url}mktx_bench_${Date.now()}`, stop, ferret };
}

export async function startBroker(services: string[], settings: Record<string, Record<string, unknown>> = {}) {
	process.env.PORT = "0";
	const cfg = resetConfig();
	const { brokerOptions } = await import("../moleculer.config.ts");
	const broker = new ServiceBroker(
		brokerOptions(cfg, {
			logger: process.env.BENCH_LOG ? { type: "Console", options: { level: process.env.BENCH_LOG } } : false,
			skipProcessEventRegistration: true,
			namespace: `mkt-x-bench-${process.pid}`,
			nodeID: `bench-${services.join("-")}-${process.pid}`,
		})
	);
	for (const schema of await loadServiceSchemas(services)) {
		const extra = settings[schema.name];
		broker.createService(extra ? { name: schema.name, mixins: [schema], settings: extra } : schema);
	}
	brokers.add(broker);
	broker.localBus.once("$broker.stopped", () => brokers.delete(broker));
	await broker.start();
	return broker;
}

/** Stops what a scenario left running (it failed half-way, or kept a node) and closes the connection. */
export async function endScenario(): Promise<void> {
	for (const broker of [...brokers].reverse())
		await broker.stop().catch(err => progress(`a broker did not stop cleanly: ${(err as Error).message}`));
	brokers.clear();
	await closeDb();
}
