import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { createConnection } from "node:net";
import path from "node:path";
import { config, ConfigError } from "./config.ts";
import { ensureFerretDbBinary, FERRETDB_VERSION, withProgress } from "./ferretdb-build.ts";
import { ensurePgDatabase, ferretdbPostgresqlUrl, redactPgUrl } from "./ferretdb-pg.ts";

// The embedded database for development and tests when MONGO_URL is unset: FerretDB 1.24.2 on
// PostgreSQL when one answers at FERRETDB_POSTGRESQL_URL, else on SQLite files in DATA_DIR.
// On SQLite every filter is a table scan (at 20k documents lists 17× and lookups 1,000× slower
// than on PostgreSQL, docs/embedded-engine.md), so SQLite is the fallback, said once at start.

export { ensureFerretDbBinary, ferretdbBinary, FERRETDB_VERSION, projectRoot } from "./ferretdb-build.ts";

export type FerretDbHandler = "postgresql" | "sqlite";

export interface RunningFerretDb {
	url: string;
	/** "reused": a server already listened on the port. */
	handler: FerretDbHandler | "reused";
	/** The PostgreSQL database behind it (handler "postgresql"). */
	postgresqlUrl?: string;
	/** The folder of its SQLite files, one per database (handler "sqlite"). */
	sqliteDir?: string;
	/** The FerretDB process running now (a new one after a supervised restart); null when reused. */
	readonly process: ChildProcess | null;
	stop(): Promise<void>;
}

export interface FerretDbOptions {
	port: number;
	/** SQLite files (SQLite handler) and ferretdb.log. */
	dataDir: string;
	log?: (line: string) => void;
	/** Default: FERRETDB_HANDLER (auto: PostgreSQL when it answers, else SQLite). */
	handler?: "auto" | FerretDbHandler;
	/** Default: FERRETDB_POSTGRESQL_URL. */
	postgresqlUrl?: string;
	/** Restart FerretDB with backoff when it exits on its own (npm start). */
	supervise?: boolean;
}

const RESTART_BACKOFF_MS = [1000, 2000, 4000, 8000, 15_000, 30_000];
/** A FerretDB that ran this long before it died starts again from the shortest delay. */
const STABLE_AFTER_MS = 60_000;

function portAnswers(port: number): Promise<boolean> {
	return new Promise(resolve => {
		const socket = createConnection({ host: "127.0.0.1", port });
		socket.once("connect", () => {
			socket.destroy();
			resolve(true);
		});
		socket.once("error", () => resolve(false));
	});
}

/** PostgreSQL or SQLite, and for SQLite chosen by default, why. */
async function chooseHandler(opts: FerretDbOptions): Promise<{ handler: FerretDbHandler; pgUrl: string; fallback?: string }> {
	const cfg = config().ferretdb;
	const wanted = opts.handler ?? cfg.handler;
	const pgUrl = opts.postgresqlUrl ?? cfg.postgresqlUrl;
	if (wanted === "sqlite") return { handler: "sqlite", pgUrl };
	try {
		await ensurePgDatabase(pgUrl);
		return { handler: "postgresql", pgUrl };
	} catch (err) {
		const why = `PostgreSQL not reachable at ${redactPgUrl(pgUrl)} (${(err as Error).message})`;
		if (wanted === "postgresql") throw new ConfigError(`FERRETDB_HANDLER=postgresql but ${why}`);
		return { handler: "sqlite", pgUrl, fallback: why };
	}
}

/**
 * Starts FerretDB on 127.0.0.1:port and waits until it accepts connections. When the port already
 * answers (a FerretDB left by an earlier start), it is reused rather than fought over.
 */
export async function startFerretDb(opts: FerretDbOptions): Promise<RunningFerretDb> {
	const log = opts.log ?? console.error;
	const url = `mongodb://127.0.0.1:${opts.port}/`;
	if (await portAnswers(opts.port)) {
		log(`A server already listens on 127.0.0.1:${opts.port}; using it as the database.`);
		return { url, handler: "reused", process: null, stop: async () => {} };
	}
	const binary = await ensureFerretDbBinary(log);
	const { handler, pgUrl, fallback } = await chooseHandler(opts);
	const dataDir = path.resolve(opts.dataDir);
	const sqliteDir = path.join(dataDir, "ferretdb");
	mkdirSync(handler === "sqlite" ? sqliteDir : dataDir, { recursive: true });
	const logFile = path.join(dataDir, "ferretdb.log");
	const args = [
		`--handler=${handler}`,
		handler === "postgresql" ? `--postgresql-url=${ferretdbPostgresqlUrl(pgUrl)}` : `--sqlite-url=file:${sqliteDir}/`,
		`--listen-addr=127.0.0.1:${opts.port}`,
		"--debug-addr=-",
		"--state-dir=-",
		"--telemetry=disable",
		"--log-level=warn",
	];
	// Our FERRETDB_* variables share FerretDB's own names (FERRETDB_HANDLER=auto would stop it).
	const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("FERRETDB_")));

	let child: ChildProcess | null = null;
	let stopping = false;
	let restartTimer: NodeJS.Timeout | null = null;
	let failures = 0;

	const spawnOnce = () => {
		const fd = openSync(logFile, "a");
		// Its own process group: Ctrl-C in a terminal signals the whole foreground group, and
		// FerretDB must outlive the node's drain (in-flight requests still use it); the node
		// stops it last, and kills it on any exit (the handler below).
		const proc = spawn(binary, args, { stdio: ["ignore", fd, fd], env, detached: true });
		closeSync(fd);
		const startedAt = Date.now();
		proc.once("exit", (code, signal) => {
			if (stopping || !opts.supervise) return;
			failures = Date.now() - startedAt > STABLE_AFTER_MS ? 0 : failures + 1;
			const delay = RESTART_BACKOFF_MS[Math.min(failures, RESTART_BACKOFF_MS.length) - 1] ?? RESTART_BACKOFF_MS[0]!;
			log(`FerretDB exited (code ${code ?? signal}); restarting in ${delay / 1000} s (log: ${logFile})`);
			restartTimer = setTimeout(() => {
				restartTimer = null;
				if (!stopping) child = spawnOnce();
			}, delay);
		});
		return proc;
	};
	const killOnExit = () => child?.kill("SIGKILL");
	process.once("exit", killOnExit);

	const what = handler === "postgresql" ? `on PostgreSQL (${redactPgUrl(pgUrl)})` : `on SQLite (${dataDir})`;
	child = spawnOnce();
	const first = child;
	let exited = false;
	first.once("exit", () => (exited = true));
	await withProgress(`starting FerretDB ${what}`, log, async () => {
		for (let i = 0; i < 600 && !exited; i++) {
			if (await portAnswers(opts.port)) return;
			await new Promise(r => setTimeout(r, 100));
		}
		stopping = true;
		first.kill("SIGKILL");
		throw new Error(exited ? `FerretDB exited at start; see ${logFile}` : `FerretDB did not start listening within 60 s; see ${logFile}`);
	});
	if (fallback) {
		log(
			`FerretDB ${FERRETDB_VERSION} on SQLite (${dataDir}) at 127.0.0.1:${opts.port}: ${fallback}. ` +
				"On SQLite every query reads the whole collection: at 20k documents, measured 17× slower lists and 1,000× slower lookups than on PostgreSQL (docs/embedded-engine.md); FERRETDB_HANDLER=sqlite chooses it quietly."
		);
	} else {
		log(`FerretDB ${FERRETDB_VERSION} ${what} listening on 127.0.0.1:${opts.port}`);
	}

	return {
		url,
		handler,
		postgresqlUrl: handler === "postgresql" ? pgUrl : undefined,
		sqliteDir: handler === "sqlite" ? sqliteDir : undefined,
		get process() {
			return child;
		},
		stop: () =>
			new Promise<void>(resolve => {
				stopping = true;
				if (restartTimer) clearTimeout(restartTimer);
				process.removeListener("exit", killOnExit);
				const current = child;
				if (!current || current.exitCode !== null || current.signalCode !== null) return resolve();
				current.once("exit", () => resolve());
				current.kill("SIGTERM");
			}),
	};
}
