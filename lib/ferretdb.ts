import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, cpSync, chmodSync, writeFileSync, rmSync, openSync } from "node:fs";
import { createConnection } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "./config.ts";

// The embedded database for development and tests when MONGO_URL is unset: FerretDB 1.24.2 on
// SQLite, built from the Go module proxy into the git-ignored `.bin/` on first use.
//
// Why not a bare `go install …/cmd/ferretdb@v1.24.2`: the module zip lacks the generated
// `build/version/version.txt`, so that binary panics at start ("Invalid build/version/version.txt").
// We download the same module with `go mod download`, add that one file, and `go build` it.

export const FERRETDB_VERSION = "v1.24.2";
const MODULE = "github.com/FerretDB/FerretDB";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const ferretdbBinary = path.join(projectRoot, ".bin", "ferretdb");

function findGo(): string | null {
	for (const candidate of ["go", "/usr/local/go/bin/go", "/usr/lib/go/bin/go"]) {
		try {
			execFileSync(candidate, ["version"], { stdio: "ignore" });
			return candidate;
		} catch {
			// try the next place
		}
	}
	return null;
}

/** Builds FerretDB into .bin/ unless it is there already. Returns the binary's path. */
export function ensureFerretDbBinary(log: (line: string) => void = console.error): string {
	if (existsSync(ferretdbBinary)) return ferretdbBinary;
	const go = findGo();
	if (!go) {
		throw new ConfigError(
			"No database: set MONGO_URL to a MongoDB server, or install Go (https://go.dev/dl) so mkt-x can build its embedded FerretDB."
		);
	}
	log(`Building FerretDB ${FERRETDB_VERSION} from the Go module proxy into .bin/ (first run only, about a minute)…`);
	const download = JSON.parse(
		execFileSync(go, ["mod", "download", "-json", `${MODULE}@${FERRETDB_VERSION}`], {
			cwd: projectRoot,
			encoding: "utf8",
			env: { ...process.env, GOFLAGS: "-mod=mod" },
		})
	) as { Dir: string };
	const buildDir = path.join(projectRoot, ".bin", `ferretdb-src-${FERRETDB_VERSION}`);
	rmSync(buildDir, { recursive: true, force: true });
	mkdirSync(path.dirname(buildDir), { recursive: true });
	cpSync(download.Dir, buildDir, { recursive: true });
	execFileSync("chmod", ["-R", "u+w", buildDir]);
	writeFileSync(path.join(buildDir, "build", "version", "version.txt"), `${FERRETDB_VERSION}\n`);
	const tmpBinary = `${ferretdbBinary}.tmp`;
	execFileSync(go, ["build", "-o", tmpBinary, "./cmd/ferretdb"], { cwd: buildDir, stdio: "inherit" });
	chmodSync(tmpBinary, 0o755);
	execFileSync("mv", [tmpBinary, ferretdbBinary]);
	rmSync(buildDir, { recursive: true, force: true });
	log(`FerretDB ${FERRETDB_VERSION} installed at .bin/ferretdb`);
	return ferretdbBinary;
}

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

export interface RunningFerretDb {
	url: string;
	process: ChildProcess | null;
	stop(): Promise<void>;
}

/**
 * Starts FerretDB on 127.0.0.1:port with its SQLite files under dataDir, and waits until it
 * accepts connections. When the port already answers (a FerretDB left by an earlier start), it
 * is reused rather than fought over.
 */
export async function startFerretDb(opts: { port: number; dataDir: string; log?: (line: string) => void }): Promise<RunningFerretDb> {
	const log = opts.log ?? console.error;
	const url = `mongodb://127.0.0.1:${opts.port}/`;
	if (await portAnswers(opts.port)) {
		log(`A server already listens on 127.0.0.1:${opts.port}; using it as the database.`);
		return { url, process: null, stop: async () => {} };
	}
	const binary = ensureFerretDbBinary(log);
	const dataDir = path.resolve(opts.dataDir);
	mkdirSync(path.join(dataDir, "ferretdb"), { recursive: true });
	const logFd = openSync(path.join(dataDir, "ferretdb.log"), "a");
	const child = spawn(
		binary,
		[
			"--handler=sqlite",
			`--sqlite-url=file:${path.join(dataDir, "ferretdb")}/`,
			`--listen-addr=127.0.0.1:${opts.port}`,
			"--debug-addr=-",
			"--state-dir=-",
			"--telemetry=disable",
			"--log-level=warn",
		],
		{ stdio: ["ignore", logFd, logFd] }
	);
	let exited = false;
	child.once("exit", () => (exited = true));
	for (let i = 0; i < 300; i++) {
		if (exited) throw new Error(`FerretDB exited at start; see ${path.join(dataDir, "ferretdb.log")}`);
		if (await portAnswers(opts.port)) break;
		await new Promise(r => setTimeout(r, 100));
	}
	if (!(await portAnswers(opts.port))) throw new Error("FerretDB did not start listening within 30 s");
	log(`FerretDB ${FERRETDB_VERSION} (SQLite) listening on 127.0.0.1:${opts.port}, data in ${dataDir}`);
	return {
		url,
		process: child,
		stop: () =>
			new Promise<void>(resolve => {
				if (exited) return resolve();
				child.once("exit", () => resolve());
				child.kill("SIGTERM");
			}),
	};
}
