import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../lib/net.ts";
import { ServiceBroker } from "moleculer";
import { config, resetConfig } from "../lib/config.ts";
import { closeDb } from "../lib/db.ts";
import { startFerretDb, type RunningFerretDb } from "../lib/ferretdb.ts";
import { dropPgDatabase, ensureFilterIndexes, withDatabase } from "../lib/ferretdb-pg.ts";
import { PgClient } from "../lib/pg.ts";
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
	const schemas = await loadServiceSchemas(services);
	for (const schema of schemas) {
		const extra = settings[schema.name];
		broker.createService(extra ? { name: schema.name, mixins: [schema], settings: extra } : schema);
	}
	brokers.add(broker);
	broker.localBus.once("$broker.stopped", () => brokers.delete(broker));
	await broker.start();
	if (broker.getLocalService("api")) await waitForRoutes(broker, restActions(schemas));
	return broker;
}

/** The actions of these schemas that the gateway publishes (those with a `rest` of their own). */
function restActions(schemas: { name: string; actions?: Record<string, unknown> }[]): string[] {
	return schemas.flatMap(s =>
		Object.entries(s.actions ?? {})
			.filter(([, a]) => typeof a === "object" && a !== null && "rest" in a)
			.map(([name]) => `${s.name}.${name}`)
	);
}

/**
 * The gateway builds its routes from service discovery (moleculer-web's autoAliases), 500 ms
 * after the last service change, not in `broker.start()`: until then an existing route answers
 * 404 NOT_FOUND. A scenario's first request waits for the routes of the services it started,
 * as the tests' nodes do (test/helpers/node.ts).
 */
async function waitForRoutes(broker: ServiceBroker, actions: string[], timeoutMs = 10_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const aliases = (await broker.call("api.listAliases")) as { actionName?: string }[];
		const routed = new Set(aliases.map(a => a.actionName));
		const missing = actions.filter(name => !routed.has(name));
		if (!missing.length) return;
		if (Date.now() > deadline) throw new Error(`the gateway did not route ${missing.join(", ")} within ${timeoutMs} ms`);
		await new Promise(r => setTimeout(r, 25));
	}
}

/** Stops what a scenario left running (it failed half-way, or kept a node) and closes the connection. */
export async function endScenario(): Promise<void> {
	for (const broker of [...brokers].reverse())
		await broker.stop().catch(err => progress(`a broker did not stop cleanly: ${(err as Error).message}`));
	brokers.clear();
	await closeDb();
}

/**
 * The filter indexes `npm start` creates on the embedded engine's PostgreSQL (bin/start.ts), then
 * fresh planner statistics: without them every lookup by key is a scan and the figures would not be
 * the product's. Nothing to do against MONGO_URL or on SQLite.
 */
export async function createStartIndexes(databaseName: string, label: string): Promise<void> {
	const url = running?.postgresqlUrl;
	if (!url) return;
	const t0 = performance.now();
	const { created } = await ensureFilterIndexes(url, databaseName);
	const pg = await PgClient.connect(url);
	await pg.query(`ANALYZE`);
	await pg.close();
	progress(`${label}: ${created} filter indexes in ${Math.round(performance.now() - t0)} ms`);
}
