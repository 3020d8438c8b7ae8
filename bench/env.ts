import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../lib/net.ts";
import { ServiceBroker } from "moleculer";
import { resetConfig } from "../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../lib/ferretdb.ts";
import { loadServiceSchemas } from "../lib/services.ts";
import { progress } from "./measure.ts";

// The benchmark's world: a database (MONGO_URL, or a throw-away FerretDB) and a one-node broker.


export async function startDatabase(): Promise<{ url: string; stop(): Promise<void>; ferret: RunningFerretDb | null }> {
	if (process.env.MONGO_URL) return { url: process.env.MONGO_URL, stop: async () => {}, ferret: null };
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-bench-db-"));
	const ferret = await startFerretDb({ port: await freePort(), dataDir, log: progress });
	return { url: `${ferret.url}mktx_bench_${Date.now()}`, stop: () => ferret.stop(), ferret };
}

export async function startBroker(services: string[], settings: Record<string, Record<string, unknown>> = {}) {
	process.env.PORT = "0";
	const cfg = resetConfig();
	const { brokerOptions } = await import("../moleculer.config.ts");
	const broker = new ServiceBroker(brokerOptions(cfg, { logger: process.env.BENCH_LOG ? { type: "Console", options: { level: process.env.BENCH_LOG } } : false, skipProcessEventRegistration: true, nodeID: `bench-${services.join("-")}-${process.pid}` }));
	for (const schema of await loadServiceSchemas(services)) {
		const extra = settings[schema.name];
		broker.createService(extra ? { name: schema.name, mixins: [schema], settings: extra } : schema);
	}
	await broker.start();
	return broker;
}
