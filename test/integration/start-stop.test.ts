import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { config } from "../../lib/config.ts";
import { projectRoot } from "../../lib/ferretdb.ts";
import { dropPgDatabase, withDatabase } from "../../lib/ferretdb-pg.ts";
import { freePort } from "../../lib/net.ts";
import { waitUntil } from "../helpers/node.ts";

// `npm start` as an operator runs it: MONGO_URL unset (the embedded FerretDB, on a PostgreSQL
// database of this test's own when one answers), a throw-away DATA_DIR. It must stop whole
// (npm, node, FerretDB) on a signal to npm or to node, and bring its database back by itself.

interface Start {
	npm: ChildProcess;
	output: () => string;
	exited: Promise<void>;
}

/** The pid's live children (Linux /proc). */
function childrenOf(pid: number): number[] {
	try {
		return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
	} catch {
		return [];
	}
}

/** Running, not a zombie waiting for its parent to reap it. */
function alive(pid: number): boolean {
	try {
		const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
		return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
	} catch {
		return false;
	}
}

const dataDirs: string[] = [];
const pgUrls: string[] = [];
const starts: Start[] = [];

async function npmStart(env: Record<string, string>): Promise<Start> {
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-start-"));
	dataDirs.push(dataDir);
	const pgUrl = withDatabase(config().ferretdb.postgresqlUrl, `mktx_test_${process.pid}_start_${randomBytes(4).toString("hex")}`);
	pgUrls.push(pgUrl);
	const { MONGO_URL: _mongo, NODE_OPTIONS: _nodeOptions, TRANSPORTER: _transporter, ...inherited } = process.env;
	const npm = spawn("npm", ["start"], {
		cwd: projectRoot,
		// A process group of its own: the signals below go to one process, never to jest.
		detached: true,
		stdio: ["ignore", "pipe", "pipe"],
		env: {
			...inherited,
			NODE_ENV: "development",
			DATA_DIR: dataDir,
			FERRETDB_PORT: String(await freePort()),
			FERRETDB_POSTGRESQL_URL: pgUrl,
			LOG_LEVEL: "info",
			...env,
		},
	});
	let out = "";
	npm.stdout!.on("data", d => (out += d));
	npm.stderr!.on("data", d => (out += d));
	const exited = new Promise<void>(resolve => npm.once("exit", () => resolve()));
	const start = { npm, output: () => out, exited };
	starts.push(start);
	await waitUntil(
		() => /ServiceBroker with \d+ service\(s\) started successfully/.test(out) || npm.exitCode !== null,
		60_000,
		"npm start to start"
	);
	if (npm.exitCode !== null) throw new Error(`npm start exited (${npm.exitCode}):\n${out}`);
	return start;
}

/** Runs the waits; a timeout says what the start printed, and what FerretDB logged. */
async function explained(start: Start, waits: () => Promise<void>) {
	try {
		await waits();
	} catch (err) {
		const dir = dataDirs.at(-1)!;
		let ferretLog = "";
		try {
			ferretLog = readFileSync(path.join(dir, "ferretdb.log"), "utf8").slice(-2000);
		} catch {
			// none yet
		}
		throw new Error(`${(err as Error).message}\n--- npm start output:\n${start.output().slice(-4000)}\n--- ferretdb.log:\n${ferretLog}`);
	}
}

/** npm → node (the script execs it, no shell between) → FerretDB. */
function processesOf(start: Start): { npm: number; node: number; ferretdb: number } {
	const npm = start.npm.pid!;
	const [node] = childrenOf(npm);
	const [ferretdb] = node ? childrenOf(node) : [];
	if (!node || !ferretdb) throw new Error(`expected npm → node → ferretdb, found ${npm} → ${node} → ${ferretdb}`);
	expect(readFileSync(`/proc/${node}/cmdline`, "utf8")).toContain("bin/start.ts");
	expect(readFileSync(`/proc/${ferretdb}/cmdline`, "utf8")).toContain("ferretdb");
	return { npm, node, ferretdb };
}

afterAll(async () => {
	for (const s of starts) if (s.npm.exitCode === null && s.npm.signalCode === null) process.kill(-s.npm.pid!, "SIGKILL");
	for (const url of pgUrls) await dropPgDatabase(url).catch(() => {});
	for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

describe("npm start", () => {
	test("SIGTERM to npm stops node and FerretDB, after announcing the drain", async () => {
		const start = await npmStart({ PORT: "0" });
		const pids = processesOf(start);
		process.kill(pids.npm, "SIGTERM");
		await start.exited;
		await waitUntil(() => !alive(pids.node) && !alive(pids.ferretdb), 15_000, "node and FerretDB to exit");
		expect(start.output()).toMatch(/SIGTERM: finishing in-flight requests/);
		expect(start.output()).toMatch(/stopped/);
	});

	test("a killed FerretDB is restarted and readiness comes back; then SIGINT to node stops everything", async () => {
		const port = await freePort();
		const start = await npmStart({ PORT: String(port) });
		const ready = async () => (await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => null))?.status === 200;
		await waitUntil(ready, 15_000, "readiness");
		const first = processesOf(start);

		process.kill(first.ferretdb, "SIGKILL");
		await explained(start, async () => {
			await waitUntil(() => /FerretDB exited \(code SIGKILL\); restarting in 1 s/.test(start.output()), 15_000, "the restart line");
			await waitUntil(() => childrenOf(first.node).some(pid => pid !== first.ferretdb && alive(pid)), 30_000, "a new FerretDB");
			await waitUntil(ready, 30_000, "readiness to come back");
		});
		const second = processesOf(start);
		expect(second.ferretdb).not.toBe(first.ferretdb);

		process.kill(second.node, "SIGINT");
		await start.exited;
		await waitUntil(() => !alive(second.node) && !alive(second.ferretdb), 15_000, "node and FerretDB to exit");
		expect(start.output()).toMatch(/SIGINT: finishing in-flight requests/);
	});
});
