import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

// Real node processes of mkt-x (`node bin/start.ts`), for tests that kill, stop or signal them
// the way an operator or a crash would. Their output is kept for the failure message.

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export interface NodeProcess {
	name: string;
	child: ChildProcess;
	output: () => string;
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
	signal(sig: NodeJS.Signals): void;
}

export function spawnNode(name: string, env: Record<string, string>): NodeProcess {
	const child = spawn(process.execPath, [path.join(root, "bin/start.ts")], {
		cwd: root,
		env: { ...process.env, NODE_OPTIONS: "", LOG_LEVEL: "warn", QUERY_GUARD: "off", ...env, NODE_ID: name },
		stdio: ["ignore", "pipe", "pipe"],
	});
	let out = "";
	child.stdout!.on("data", d => (out = (out + d).slice(-20_000)));
	child.stderr!.on("data", d => (out = (out + d).slice(-20_000)));
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>(resolve =>
		child.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() }))
	);
	return { name, child, output: () => out, exited, signal: sig => void child.kill(sig) };
}

/** Ends whatever is still running (after a test, whatever happened in it). */
export async function reap(nodes: NodeProcess[]): Promise<void> {
	await Promise.all(
		nodes.map(async n => {
			if (n.child.exitCode !== null || n.child.signalCode !== null) return;
			n.child.kill("SIGKILL");
			await n.exited;
		})
	);
}
