// `npm start`: one node of mkt-x. All services by default; SERVICES=api,accounts for a subset.
// Without MONGO_URL it builds (first time) and starts the embedded FerretDB, restarts it when it
// dies, and stops it on exit.
//
// Stopping: SIGTERM, SIGINT or SIGHUP to this process, or to npm in front of it (the script
// `exec`s node, so npm signals node itself), or the death of the parent (npm killed hard, or an
// npm that signals only its shell): the node announces `mktx.draining` (the gateway refuses new
// requests), stops the broker (in-flight requests finish), then FerretDB, all within the drain time.
import { ServiceBroker } from "moleculer";
import { ConfigError, loadConfig, resetConfig } from "../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../lib/ferretdb.ts";
import { ensureFilterIndexes } from "../lib/ferretdb-pg.ts";
import { ensureSqliteIdIndexes } from "../lib/ferretdb-sqlite.ts";
import { loadServiceSchemas } from "../lib/services.ts";

const PARENT_CHECK_MS = 500;
/** The database of the embedded FerretDB (a schema of FERRETDB_POSTGRESQL_URL's database). */
const EMBEDDED_DB = "mktx";

let broker: ServiceBroker | null = null;
let ferret: RunningFerretDb | null = null;
let stopping = false;
/** The broker's wait for in-flight requests; the whole stop must fit in it. */
let drainMs = 10_000;

async function shutdown(why: string) {
	if (stopping) return;
	stopping = true;
	const say = (line: string) => (broker ? broker.logger.info(line) : console.error(line));
	say(`${why}: finishing in-flight requests (${drainMs / 1000} s at most), then stopping`);
	const deadline = setTimeout(() => {
		console.error(`mkt-x: the stop took longer than ${drainMs / 1000} s; exiting now`);
		ferret?.process?.kill("SIGKILL");
		process.exit(1);
	}, drainMs);
	let code = 0;
	try {
		if (broker) {
			await broker.broadcastLocal("mktx.draining");
			await broker.stop();
		}
	} catch (err) {
		console.error("mkt-x: error while stopping:", err);
		code = 1;
	} finally {
		await ferret?.stop();
		clearTimeout(deadline);
		say("stopped");
		process.exit(code || process.exitCode || 0);
	}
}

/** The database went away (FerretDB restarting, MongoDB failing over): transient, readiness says so. */
const isDatabaseOutage = (reason: unknown) =>
	reason instanceof Error && /^Mongo(Network|NetworkTimeout|ServerSelection|PoolCleared)Error$/.test(reason.name);

function watchForStop() {
	for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => void shutdown(signal));
	// Some background work (a job loop, a timer) lets a database error go unhandled when FerretDB
	// dies; Node would end the node for it, and with it the restart that is under way.
	process.on("unhandledRejection", reason => {
		if (isDatabaseOutage(reason)) {
			(broker?.logger ?? console).warn(`database unavailable (${(reason as Error).message}); /health/ready reports it until it is back`);
			return;
		}
		console.error("mkt-x: unhandled rejection:", reason);
		process.exitCode = 1;
		void shutdown("unhandled rejection");
	});
	// npm 11 forwards SIGINT/SIGTERM to its child only; a parent killed otherwise (or a shell in
	// between that dies of the signal) leaves this process re-parented: stop then too.
	const parent = process.ppid;
	setInterval(() => {
		if (process.ppid !== parent) void shutdown(`parent process ${parent} exited`);
	}, PARENT_CHECK_MS).unref();
}

async function main() {
	watchForStop();
	let cfg = loadConfig();
	if (!cfg.mongoUrl) {
		ferret = await startFerretDb({ port: cfg.ferretdbPort, dataDir: cfg.dataDir, supervise: true });
		process.env.MONGO_URL = `${ferret.url}${EMBEDDED_DB}`;
	}
	if (stopping) return;
	cfg = resetConfig();
	const { brokerOptions } = await import("../moleculer.config.ts");
	const options = brokerOptions(cfg, { skipProcessEventRegistration: true });
	drainMs = options.tracking?.shutdownTimeout ?? drainMs;
	broker = new ServiceBroker(options);
	for (const schema of await loadServiceSchemas(cfg.services)) broker.createService(schema);
	await broker.start();
	// After the start: the services have created their collections and declared indexes by now.
	if (ferret?.postgresqlUrl && !stopping) {
		const began = Date.now();
		try {
			const { created } = await ensureFilterIndexes(ferret.postgresqlUrl, EMBEDDED_DB);
			if (created)
				broker.logger.info(`PostgreSQL: ${created} filter indexes created in ${Date.now() - began} ms (docs/embedded-engine.md)`);
		} catch (err) {
			// Slower queries, same answers: not a reason to refuse service.
			broker.logger.warn(`PostgreSQL filter indexes not created (${(err as Error).message}); queries read whole tables`);
		}
	}
	if (ferret?.sqliteDir && !stopping) {
		const began = Date.now();
		try {
			const { created } = ensureSqliteIdIndexes(ferret.sqliteDir, EMBEDDED_DB);
			if (created) broker.logger.info(`SQLite: ${created} _id indexes created in ${Date.now() - began} ms (docs/embedded-engine.md)`);
		} catch (err) {
			broker.logger.warn(`SQLite _id indexes not created (${(err as Error).message}); lookups by _id read whole tables`);
		}
	}
}

main().catch(async err => {
	if (err instanceof ConfigError) {
		console.error(`mkt-x cannot start: ${err.message}`);
	} else {
		console.error("mkt-x failed to start:", err);
	}
	await ferret?.stop();
	process.exit(1);
});
