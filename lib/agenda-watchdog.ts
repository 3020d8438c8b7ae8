import type { Agenda, Job } from "agenda";

// Agenda 6.2.6 (and its main branch) races every job run against a watchdog that sleeps
// max(processEvery, lockLifetime) / 2 in a setTimeout it never clears or unrefs. When the job
// ends first, as nearly every job does, that timer stays referenced until it fires: 2.5 min at our
// default lock lifetime, 15 min for campaign sends. Each one keeps the finished job in memory and
// keeps a process whose broker has stopped from exiting (jest waited 150 s after the last suite).
// Agenda gives no handle on it, so its processor's runOrRetry is wrapped: the watchdog's first
// timer is created synchronously inside that call, before its first await, with a delay we can
// compute. It is taken there, unref'd (on its own it must never hold a process) and cleared once
// the run has settled (it has nothing left to watch). A run longer than half its lock lifetime
// arms later watchdog timers outside that call; those are left as Agenda makes them.

const WRAPPED = Symbol.for("mkt-x.agenda-watchdog");

interface Processor {
	processEvery: number;
	agenda: { definitions: Record<string, { lockLifetime: number } | undefined> };
	runOrRetry(job: Job): Promise<void>;
}

/** Call after `agenda.start()` (the processor exists from then on, before it has run any job). */
export function releaseWatchdogTimers(agenda: Agenda): void {
	const processor = (agenda as unknown as { jobProcessor?: Processor }).jobProcessor;
	const proto = processor && (Object.getPrototypeOf(processor) as Processor & { [WRAPPED]?: true });
	// Agenda is pinned; an upgrade that renames this must be looked at, not silently skipped.
	if (!proto || typeof proto.runOrRetry !== "function")
		throw new Error("Agenda's JobProcessor.runOrRetry is gone: revisit lib/agenda-watchdog.ts for this Agenda version");
	if (proto[WRAPPED]) return;
	const runOrRetry = proto.runOrRetry;
	proto.runOrRetry = function (this: Processor, job: Job) {
		const lockLifetime = this.agenda.definitions[job.attrs.name]?.lockLifetime ?? 0;
		const watchdogMs = Math.max(this.processEvery / 2, lockLifetime / 2);
		const watchdogs: NodeJS.Timeout[] = [];
		const realSetTimeout = globalThis.setTimeout;
		globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
			const timer = realSetTimeout(fn, ms, ...args);
			if (ms === watchdogMs) watchdogs.push(timer.unref());
			return timer;
		}) as typeof setTimeout;
		let run: Promise<void>;
		try {
			run = runOrRetry.call(this, job);
		} finally {
			globalThis.setTimeout = realSetTimeout;
		}
		return run.finally(() => watchdogs.forEach(timer => clearTimeout(timer)));
	};
	proto[WRAPPED] = true;
}
