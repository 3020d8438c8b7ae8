import type { Flow } from "../../models/flow.model.ts";
import { FLOW_RUN_STATUSES, type FlowRun } from "../../models/flow-run.model.ts";
import { fieldOf } from "./plan.ts";

// The public shapes of flows and runs. Run counts are counted from the run rows (never kept
// as counters, which concurrent updates would lose on FerretDB).

export type RunCounts = { entered: number; active: number; completed: number; failed: number; cancelled: number };

/** Run counts per flow from `n` runs per (flow, status). */
export function countRuns(rows: { flowId: string; status: string; n: number }[]): Map<string, RunCounts> {
	const out = new Map<string, RunCounts>();
	for (const r of rows) {
		const c = out.get(r.flowId) ?? emptyCounts();
		c.entered += r.n;
		if ((FLOW_RUN_STATUSES as readonly string[]).includes(r.status)) c[r.status as keyof Omit<RunCounts, "entered">] += r.n;
		out.set(r.flowId, c);
	}
	return out;
}

export const emptyCounts = (): RunCounts => ({ entered: 0, active: 0, completed: 0, failed: 0, cancelled: 0 });

export function presentFlow(f: Flow & { _id: string }, stats: RunCounts = emptyCounts()) {
	return {
		id: f._id,
		merchantId: f.merchantId,
		name: f.name,
		description: f.description ?? null,
		status: f.status,
		trigger: f.trigger,
		nodes: f.nodes,
		allowReentry: f.allowReentry,
		stats,
		activatedAt: f.activatedAt ?? null,
		deactivatedAt: f.deactivatedAt ?? null,
		createdAt: (f as { createdAt?: Date }).createdAt ?? null,
		updatedAt: (f as { updatedAt?: Date }).updatedAt ?? null,
	};
}

export function presentRun(r: FlowRun & { _id: string }) {
	return {
		id: r._id,
		flowId: r.flowId,
		contactId: r.contactId,
		status: r.status,
		trigger: { type: r.trigger?.type ?? null, conversationId: r.trigger?.conversationId ?? null, messageId: r.trigger?.messageId ?? null },
		nextStep: r.position ? fieldOf(r.position) : null,
		dueAt: r.status === "active" ? r.dueAt : null,
		startedAt: r.startedAt,
		finishedAt: r.finishedAt ?? null,
		error: r.error ?? null,
		log: (r.log ?? []).map(e => ({
			at: e.at,
			node: fieldOf(e.step),
			nodeId: e.nodeId ?? null,
			type: e.type,
			outcome: e.outcome,
			detail: e.detail ?? null,
		})),
	};
}
