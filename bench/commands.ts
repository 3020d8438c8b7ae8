import { closeSync, openSync, writeSync } from "node:fs";
import mongoose from "mongoose";

// Counts the database commands this process sends, from the driver's command monitoring (the
// client must be created with `monitorCommands`: see withCommandMonitoring), by command and
// collection, so a benchmark can print commands per unit of work next to its timings.

const IGNORED = new Set(["hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "getMore", "killCursors"]);

/** The connection string with the driver's command monitoring switched on. */
export function withCommandMonitoring(url: string): string {
	if (/[?&]monitorCommands=true/.test(url)) return url;
	return `${url}${url.includes("?") ? "&" : "?"}monitorCommands=true`;
}

export interface CommandCount {
	total: number;
	/** "<command> <collection>" → count, largest first. */
	byTarget: Record<string, number>;
	/** "<command> <collection>" → milliseconds the server took, summed (commands that overlap count each). */
	msByTarget: Record<string, number>;
	/** Every command's milliseconds, summed. */
	ms: number;
}

/** Starts counting on the open mongoose connection; `stop()` gives what was counted since. */
export function countCommands(): { stop(): CommandCount; snapshot(): CommandCount } {
	const client = mongoose.connection.getClient();
	const counts = new Map<string, number>();
	const ms = new Map<string, number>();
	const targets = new Map<unknown, string>();
	// BENCH_TRACE=<file>: every command's start (ms since counting began), duration and target, as JSON lines.
	const trace = process.env.BENCH_TRACE ? openSync(process.env.BENCH_TRACE, "a") : null;
	if (trace !== null) writeSync(trace, `${JSON.stringify({ begin: new Date().toISOString() })}\n`);
	const t0 = performance.now();
	const started = (ev: { commandName: string; command: Record<string, unknown>; requestId: unknown }) => {
		if (IGNORED.has(ev.commandName)) return;
		const target = `${ev.commandName} ${String(ev.command[ev.commandName] ?? "")}`;
		counts.set(target, (counts.get(target) ?? 0) + 1);
		targets.set(ev.requestId, target);
	};
	const ended = (ev: { requestId: unknown; duration: number }) => {
		const target = targets.get(ev.requestId);
		if (target === undefined) return;
		targets.delete(ev.requestId);
		ms.set(target, (ms.get(target) ?? 0) + ev.duration);
		if (trace !== null)
			writeSync(
				trace,
				`${JSON.stringify({ at: Math.round(performance.now() - t0 - ev.duration), ms: Math.round(ev.duration * 10) / 10, target })}\n`
			);
	};
	client.on("commandStarted", started);
	client.on("commandSucceeded", ended);
	client.on("commandFailed", ended);
	const snapshot = (): CommandCount => {
		const byTarget = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
		const msByTarget = Object.fromEntries([...ms].sort((a, b) => b[1] - a[1]).map(([t, n]) => [t, Math.round(n)]));
		return {
			total: [...counts.values()].reduce((a, b) => a + b, 0),
			byTarget,
			msByTarget,
			ms: Math.round([...ms.values()].reduce((a, b) => a + b, 0)),
		};
	};
	return {
		snapshot,
		stop() {
			client.off("commandStarted", started);
			client.off("commandSucceeded", ended);
			client.off("commandFailed", ended);
			if (trace !== null) closeSync(trace);
			return snapshot();
		},
	};
}

/** Collections a node polls on its own (queue workers, leases, Agenda): not the work being measured. */
export const BACKGROUND = ["inbox_activity", "partition_leases", "agenda_jobs"];

const round2 = (n: number) => Math.round(n * 100) / 100;

/**
 * Commands per unit of work (per event, per DM, per request), with the commands of `background`
 * collections shown apart, and the largest targets per unit.
 */
export function perUnit(count: CommandCount, units: number, background: string[] = BACKGROUND, top = 8) {
	const isBackground = (target: string) => background.includes(target.slice(target.indexOf(" ") + 1));
	const entries = Object.entries(count.byTarget);
	const polled = entries.filter(([t]) => isBackground(t)).reduce((sum, [, n]) => sum + n, 0);
	const n = Math.max(1, units);
	return {
		units,
		perUnit: round2((count.total - polled) / n),
		background: round2(polled / n),
		byCommand: Object.fromEntries(
			entries
				.filter(([t]) => !isBackground(t))
				.slice(0, top)
				.map(([t, c]) => [t, round2(c / n)])
		),
	};
}

/** Runs `fn` and gives what it sent along with its result (nothing else should run meanwhile). */
export async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; commands: CommandCount }> {
	const counter = countCommands();
	try {
		const result = await fn();
		return { result, commands: counter.stop() };
	} catch (err) {
		counter.stop();
		throw err;
	}
}

/** Counts only what is sent while each wrapped call runs (a baseline run in between is not counted). */
export function callCounter() {
	const counter = countCommands();
	const byTarget: Record<string, number> = {};
	let calls = 0;
	return {
		async around<T>(fn: () => Promise<T>): Promise<T> {
			const before = counter.snapshot().byTarget;
			try {
				return await fn();
			} finally {
				calls++;
				for (const [target, n] of Object.entries(counter.snapshot().byTarget)) {
					const delta = n - (before[target] ?? 0);
					if (delta) byTarget[target] = (byTarget[target] ?? 0) + delta;
				}
			}
		},
		stop(background?: string[]) {
			counter.stop();
			const sorted = Object.fromEntries(Object.entries(byTarget).sort((a, b) => b[1] - a[1]));
			return perUnit(
				{ total: Object.values(byTarget).reduce((a, b) => a + b, 0), byTarget: sorted, msByTarget: {}, ms: 0 },
				calls,
				background
			);
		},
	};
}
