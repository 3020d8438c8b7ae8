// `npm start`: one node of mkt-x. All services by default; SERVICES=api,accounts for a subset.
// Without MONGO_URL it builds (first time) and starts the embedded FerretDB, and stops it on exit.
import { ServiceBroker } from "moleculer";
import { ConfigError, loadConfig, resetConfig } from "../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../lib/ferretdb.ts";
import { loadServiceSchemas } from "../lib/services.ts";

async function main() {
	let cfg = loadConfig();
	let ferret: RunningFerretDb | null = null;
	if (!cfg.mongoUrl) {
		ferret = await startFerretDb({ port: cfg.ferretdbPort, dataDir: cfg.dataDir });
		process.env.MONGO_URL = `${ferret.url}mktx`;
	}
	cfg = resetConfig();
	const { brokerOptions } = await import("../moleculer.config.ts");
	const broker = new ServiceBroker(brokerOptions(cfg, { skipProcessEventRegistration: true }));
	for (const schema of await loadServiceSchemas(cfg.services)) broker.createService(schema);

	let stopping = false;
	const shutdown = async (signal: string) => {
		if (stopping) return;
		stopping = true;
		broker.logger.info(`${signal}: finishing in-flight requests, then stopping`);
		try {
			await broker.stop();
		} finally {
			await ferret?.stop();
			process.exit(0);
		}
	};
	process.on("SIGINT", () => void shutdown("SIGINT"));
	process.on("SIGTERM", () => void shutdown("SIGTERM"));

	await broker.start();
}

main().catch(err => {
	if (err instanceof ConfigError) {
		console.error(`mkt-x cannot start: ${err.message}`);
	} else {
		console.error("mkt-x failed to start:", err);
	}
	process.exit(1);
});
