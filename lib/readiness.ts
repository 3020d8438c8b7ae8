import type { Context, ServiceBroker } from "moleculer";
import mongoose from "mongoose";
import { dbAnswers } from "./db.ts";
import { call } from "./calls.ts";

// /health/ready answers within its budget whatever the database or the services do: every check
// runs at once under the same deadline, and one that does not answer in time is "not ready" with
// a reason, never a hang.
//
// Other services add to the answer by declaring an action named `health` (e.g. `inbox.health`):
// the gateway calls each one it can see, with the same deadline, and puts its answer under
// `details.<service>`. An answer with `ready: false` makes the node not ready; a service that
// does not answer in time is reported under details but does not (a slow background worker must
// not take the gateway out of rotation).

export interface Readiness {
	status: "ready" | "not_ready";
	database: boolean;
	broker: boolean;
	reasons: string[];
	details: Record<string, unknown>;
}

function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
	let timer: NodeJS.Timeout;
	const late = new Promise<T>(resolve => {
		timer = setTimeout(() => resolve(fallback), ms);
	});
	return Promise.race([work.catch(() => fallback), late]).finally(() => clearTimeout(timer));
}

async function databaseCheck(ctx: Context, budgetMs: number): Promise<string | null> {
	// A gateway-only node may hold no database connection yet: it asks a core service instead.
	if (mongoose.connection.readyState === 1) {
		const answer = await within(dbAnswers(), budgetMs, null);
		return answer === true ? null : answer === null ? `database did not answer within ${budgetMs} ms` : "database ping failed";
	}
	const answer = await within(call(ctx, "accounts.ready", {}, { timeout: budgetMs, retries: 0 }), budgetMs, null);
	return answer === true
		? null
		: answer === null
			? `no core service answered within ${budgetMs} ms`
			: "database not reachable from the core services";
}

/** The distinct `<service>.health` actions available on the network right now. */
function healthActions(broker: ServiceBroker): string[] {
	const list = broker.registry.getActionList({ onlyAvailable: true, skipInternal: true }) as { name: string }[];
	return [...new Set(list.map(a => a.name).filter(name => /^[^.]+\.health$/.test(name)))];
}

export async function readiness(
	ctx: Context,
	broker: ServiceBroker,
	{ budgetMs, draining }: { budgetMs: number; draining: boolean }
): Promise<Readiness> {
	const reasons: string[] = [];
	if (draining) reasons.push("draining: this node is shutting down");
	if (!broker.started) reasons.push("broker not started");
	const actions = healthActions(broker);
	const [dbReason, answers] = await Promise.all([
		databaseCheck(ctx, budgetMs),
		Promise.all(
			actions.map(name =>
				within(
					(ctx.call(name, {}, { timeout: budgetMs, retries: 0 }) as Promise<unknown>).then(
						a => a,
						(err: Error) => ({ error: err.message })
					),
					budgetMs,
					{ error: `no answer within ${budgetMs} ms` } as unknown
				)
			)
		),
	]);
	if (dbReason) reasons.push(dbReason);
	const details: Record<string, unknown> = {};
	actions.forEach((name, i) => {
		const service = name.slice(0, -".health".length);
		details[service] = answers[i];
		if ((answers[i] as { ready?: unknown } | null)?.ready === false) reasons.push(`${service} is not ready`);
	});
	return { status: reasons.length ? "not_ready" : "ready", database: !dbReason, broker: broker.started, reasons, details };
}
