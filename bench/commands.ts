import mongoose from "mongoose";

// Counts the database commands this process sends, from the driver's command monitoring (the
// client must be created with `monitorCommands`: see withCommandMonitoring), by command and
// collection, so a benchmark can print commands per unit of work next to its timings.

const IGNORED = new Set(["hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo", "getMore", "killCursors"]);

/** The connection string with the driver's command monitoring switched on. */
export function withCommandMonitoring(url: string): string {
	return `${url}${url.includes("?") ? "&" : "?"}monitorCommands=true`;
}

export interface CommandCount {
	total: number;
	/** "<command> <collection>" → count, largest first. */
	byTarget: Record<string, number>;
}

/** Starts counting on the open mongoose connection; `stop()` gives what was counted since. */
export function countCommands(): { stop(): CommandCount; snapshot(): CommandCount } {
	const client = mongoose.connection.getClient();
	const counts = new Map<string, number>();
	const listener = (ev: { commandName: string; command: Record<string, unknown> }) => {
		if (IGNORED.has(ev.commandName)) return;
		const target = `${ev.commandName} ${String(ev.command[ev.commandName] ?? "")}`;
		counts.set(target, (counts.get(target) ?? 0) + 1);
	};
	client.on("commandStarted", listener);
	const snapshot = (): CommandCount => {
		const byTarget = Object.fromEntries([...counts].sort((a, b) => b[1] - a[1]));
		return { total: [...counts.values()].reduce((a, b) => a + b, 0), byTarget };
	};
	return {
		snapshot,
		stop() {
			client.off("commandStarted", listener);
			return snapshot();
		},
	};
}
