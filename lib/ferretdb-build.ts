import { execFileSync, spawn } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError } from "./config.ts";

// Builds the embedded FerretDB 1.24.2 from the Go module proxy into the git-ignored `.bin/`, once.
//
// Why not a bare `go install …/cmd/ferretdb@v1.24.2`: the module zip lacks the generated
// `build/version/version.txt`, so that binary panics at start ("Invalid build/version/version.txt").
// We download the same module with `go mod download`, add that one file, and `go build` it.

export const FERRETDB_VERSION = "v1.24.2";
const MODULE = "github.com/FerretDB/FerretDB";
/** Measured on the 2-core development machine with empty Go caches: 2 min 50 s. */
const BUILD_ESTIMATE = "about 3 minutes on 2 cores, less with a warm Go cache";
const PROGRESS_EVERY_MS = 15_000;

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

/** Runs `work`, printing "still <what> (45 s)…" every 15 s until it ends: a first start can look stuck otherwise. */
export async function withProgress<T>(what: string, log: (line: string) => void, work: () => Promise<T>): Promise<T> {
	const began = Date.now();
	const timer = setInterval(() => log(`still ${what} (${Math.round((Date.now() - began) / 1000)} s)…`), PROGRESS_EVERY_MS);
	try {
		return await work();
	} finally {
		clearInterval(timer);
	}
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
		let out = "";
		let err = "";
		child.stdout.on("data", d => (out += d));
		child.stderr.on("data", d => (err += d));
		child.once("error", reject);
		child.once("exit", code =>
			code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")} failed (${code}): ${err.trim().slice(-2000)}`))
		);
	});
}

/** Builds FerretDB into .bin/ unless it is there already. Returns the binary's path. */
export async function ensureFerretDbBinary(log: (line: string) => void = console.error): Promise<string> {
	if (existsSync(ferretdbBinary)) return ferretdbBinary;
	const go = findGo();
	if (!go) {
		throw new ConfigError(
			"No database: set MONGO_URL to a MongoDB server, or install Go (https://go.dev/dl) so mkt-x can build its embedded FerretDB."
		);
	}
	log(
		`First start: building FerretDB ${FERRETDB_VERSION} from the Go module proxy into .bin/ (${BUILD_ESTIMATE}; later starts skip this)…`
	);
	const began = Date.now();
	await withProgress("building FerretDB", log, async () => {
		const download = JSON.parse(
			await run(go, ["mod", "download", "-json", `${MODULE}@${FERRETDB_VERSION}`], projectRoot, { ...process.env, GOFLAGS: "-mod=mod" })
		) as { Dir: string };
		// Per process, so two first starts at once do not build in each other's folder.
		const buildDir = path.join(projectRoot, ".bin", `ferretdb-src-${FERRETDB_VERSION}-${process.pid}`);
		rmSync(buildDir, { recursive: true, force: true });
		mkdirSync(path.dirname(buildDir), { recursive: true });
		cpSync(download.Dir, buildDir, { recursive: true });
		await run("chmod", ["-R", "u+w", buildDir], projectRoot);
		writeFileSync(path.join(buildDir, "build", "version", "version.txt"), `${FERRETDB_VERSION}\n`);
		const tmpBinary = `${ferretdbBinary}.${process.pid}.tmp`;
		try {
			await run(go, ["build", "-o", tmpBinary, "./cmd/ferretdb"], buildDir);
			chmodSync(tmpBinary, 0o755);
			renameSync(tmpBinary, ferretdbBinary);
		} finally {
			rmSync(buildDir, { recursive: true, force: true });
			rmSync(tmpBinary, { force: true });
		}
	});
	log(`FerretDB ${FERRETDB_VERSION} built in ${Math.round((Date.now() - began) / 1000)} s: .bin/ferretdb`);
	return ferretdbBinary;
}
