import { randomUUID } from "node:crypto";
import type { Context } from "moleculer";
import { FlowModel, type Flow } from "../../models/flow.model.ts";
import { FlowRunModel, RUN_LOG_LIMIT, type FlowRun, type FlowRunStatus } from "../../models/flow-run.model.ts";
import { FlowClaimModel } from "../../models/flow-claim.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { TemplateModel } from "../../models/template.model.ts";
import { isDuplicateKey, uuidFromName } from "../../lib/ids.ts";
import { compileConditions } from "../segments/compile.ts";
import { composeMessage } from "../inbox/compose.ts";
import type { SendToContactResult } from "../inbox/send.ts";
import { callFor } from "../../lib/calls.ts";
import { clock } from "./clock.ts";
import type { FlowNode } from "./definition.ts";
import { enterBranch, nextAfter, nodeAt } from "./plan.ts";
import { takeTurn } from "./round-robin.ts";

// The engine: a run is a row with a position; each step is claimed by a unique insert before
// it is done, then the row moves on with a conditional update. A wait, a delay or a send limit
// sets `dueAt` and schedules a resume (Agenda), so whichever node is up continues the run; the
// sweep resumes any run that is due and was not (a node died before scheduling).

/** A claim older than this belongs to a node that died mid-step: another may take the step over. */
export const STALE_CLAIM_MS = 5 * 60_000;
const MAX_STEPS_PER_CALL = 200;
const RETRY_TRANSIENT_SECONDS = 60;

export interface EngineEnv {
	ctx: Context;
	/** Schedules a resume of the run at `at` (flows' clock). */
	schedule(runId: string, at: Date): Promise<void>;
}

export interface TriggerInfo {
	type: string;
	eventKey: string;
	conversationId?: string | null;
	messageId?: string | null;
}

type Lean<T> = T & { _id: string };
type LogEntry = { at: Date; step: string; nodeId: string | null; type: string; outcome: string; detail: string | null };
interface StepResult {
	outcome: string;
	detail?: string | null;
	/** Where to go next (default: the step after this one). */
	next?: string | null;
	/** Not before this time (a wait). */
	dueAt?: Date;
	/** Nothing happened: the claim is released and the same step is tried again at `dueAt`. */
	retry?: boolean;
	fail?: boolean;
}

const activeKey = (flowId: string, contactId: string) => `active:${flowId}:${contactId}`;
const stepKey = (runId: string, path: string) => `step:${runId}:${path}`;
const withLog = (log: LogEntry[] | undefined, entry: LogEntry) => [...(log ?? []), entry].slice(-RUN_LOG_LIMIT);
const errText = (err: unknown) => (err instanceof Error ? err.message : String(err)).slice(0, 300);

/** Holds the flow's one active run for the contact; a holder whose run ended is taken over. */
async function takeEntry(flow: Lean<Flow>, contactId: string, runId: string): Promise<boolean> {
	const _id = activeKey(flow._id, contactId);
	for (let attempt = 0; attempt < 2; attempt++) {
		try {
			await FlowClaimModel.create({ _id, merchantId: flow.merchantId, runId, token: runId, claimedAt: new Date() });
			return true;
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
		}
		const held = await FlowClaimModel.findById(_id).lean();
		if (!held) continue;
		if (held.runId === runId) return true; // the same event again: the run insert decides
		const holder = await FlowRunModel.findById(held.runId, { status: 1 }).lean();
		if (holder?.status === "active") return false;
		await FlowClaimModel.deleteOne({ _id, runId: held.runId });
	}
	return false;
}

/** Starts the run of `flow` for this contact and event, once; then does its first steps. */
export async function enterFlow(
	env: EngineEnv,
	flow: Lean<Flow>,
	contactId: string,
	trigger: TriggerInfo
): Promise<{ started: boolean; runId: string; reason?: string }> {
	const runId = uuidFromName(`${flow._id}:${contactId}:${trigger.eventKey}`);
	if (!flow.allowReentry && !(await takeEntry(flow, contactId, runId))) return { started: false, runId, reason: "already_in_flow" };
	const now = clock.now();
	try {
		await FlowRunModel.create({
			_id: runId,
			merchantId: flow.merchantId,
			flowId: flow._id,
			contactId,
			activation: flow.activation,
			trigger: {
				type: trigger.type,
				eventKey: trigger.eventKey,
				conversationId: trigger.conversationId ?? null,
				messageId: trigger.messageId ?? null,
			},
			status: "active",
			position: "0",
			dueAt: now,
			log: [],
			startedAt: now,
		});
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		const existing = await FlowRunModel.findById(runId, { status: 1 }).lean();
		if (existing && existing.status !== "active") await FlowClaimModel.deleteOne({ _id: activeKey(flow._id, contactId), runId });
		return { started: false, runId, reason: "duplicate_event" };
	}
	await advance(env, runId);
	return { started: true, runId };
}

async function claimStep(run: Lean<FlowRun>, path: string): Promise<string | null> {
	const _id = stepKey(run._id, path);
	const token = randomUUID();
	const create = async () => {
		try {
			await FlowClaimModel.create({ _id, merchantId: run.merchantId, runId: run._id, token, claimedAt: new Date() });
			return token;
		} catch (err) {
			if (isDuplicateKey(err)) return null;
			throw err;
		}
	};
	if (await create()) return token;
	const held = await FlowClaimModel.findById(_id).lean();
	if (held && Date.now() - new Date(held.claimedAt).getTime() < STALE_CLAIM_MS) return null;
	if (held) await FlowClaimModel.deleteOne({ _id, token: held.token });
	return create();
}

async function finish(run: Lean<FlowRun>, status: Exclude<FlowRunStatus, "active">, entry: LogEntry, error: string | null = null) {
	await FlowRunModel.updateOne(
		{ _id: run._id, status: "active" },
		{ $set: { status, position: null, finishedAt: entry.at, log: withLog(run.log as LogEntry[], entry), error } }
	);
	await FlowClaimModel.deleteOne({ _id: activeKey(run.flowId, run.contactId), runId: run._id });
}

/**
 * Does the run's due steps, one claim each, until it waits, ends or is not due. Safe to call
 * from any node at any time, concurrently: a step somebody else claimed is left to them.
 */
export async function advance(env: EngineEnv, runId: string, at?: Date): Promise<void> {
	let flow: Lean<Flow> | null = null;
	for (let i = 0; i < MAX_STEPS_PER_CALL; i++) {
		const run = await FlowRunModel.findById(runId).lean<Lean<FlowRun>>();
		if (!run || run.status !== "active" || run.position == null) return;
		const now = at && at > clock.now() ? at : clock.now();
		if (new Date(run.dueAt) > now) return;
		flow ??= await FlowModel.findById(run.flowId).lean<Lean<Flow>>();
		const path = run.position;
		const base = { at: now, step: path, nodeId: null, type: "flow", detail: null };
		if (!flow || flow.status !== "active" || flow.activation !== run.activation) {
			return finish(run, "cancelled", { ...base, outcome: "cancelled", detail: "the flow was deactivated" });
		}
		const nodes = flow.nodes as FlowNode[];
		const node = nodeAt(nodes, path);
		if (!node) return finish(run, "failed", { ...base, outcome: "failed", detail: "step not found" }, "step not found");
		const entryOf = (outcome: string, detail: string | null = null): LogEntry => ({
			at: now,
			step: path,
			nodeId: node.id ?? null,
			type: node.type,
			outcome,
			detail,
		});

		if (node.delay && run.delayedStep !== path) {
			const dueAt = new Date(now.getTime() + node.delay * 1000);
			const res = await FlowRunModel.updateOne(
				{ _id: runId, status: "active", position: path },
				{ $set: { delayedStep: path, dueAt, log: withLog(run.log as LogEntry[], entryOf("delayed", `until ${dueAt.toISOString()}`)) } }
			);
			if (res.modifiedCount) await env.schedule(runId, dueAt);
			return;
		}

		if (!(await claimStep(run, path))) return;
		let result: StepResult;
		try {
			result = await executeStep(env, run, flow, node, path, now);
		} catch (err) {
			result = { outcome: "failed", detail: errText(err), fail: true };
		}
		const entry = entryOf(result.outcome, result.detail ?? null);
		if (result.fail) return finish(run, "failed", entry, entry.detail);
		if (result.retry) await FlowClaimModel.deleteOne({ _id: stepKey(runId, path) });
		const next = result.retry ? path : result.next !== undefined ? result.next : nextAfter(nodes, path);
		if (next === null) {
			await finish(run, "completed", entry);
			env.ctx.emit("flow.run.completed", { merchantId: run.merchantId, flowId: run.flowId, runId, contactId: run.contactId, at: entry.at });
			return;
		}
		const dueAt = result.dueAt ?? now;
		const res = await FlowRunModel.updateOne(
			{ _id: runId, status: "active", position: path },
			{ $set: { position: next, dueAt, log: withLog(run.log as LogEntry[], entry) } }
		);
		if (!res.modifiedCount) return;
		if (dueAt > now) return env.schedule(runId, dueAt);
	}
}

async function openConversation(merchantId: string, contactId: string) {
	return ConversationModel.findOne({ openKey: `open:${contactId}` }, { _id: 1, merchantId: 1 })
		.lean()
		.then(c => (c && c.merchantId === merchantId ? c : null));
}

async function executeStep(
	env: EngineEnv,
	run: Lean<FlowRun>,
	flow: Lean<Flow>,
	node: FlowNode,
	path: string,
	now: Date
): Promise<StepResult> {
	const { merchantId, contactId } = run;
	// A node's required fields (tag, key, userId…) were checked when the flow was saved (definition.ts).
	switch (node.type) {
		case "send_message":
			return sendStep(env, run, node, path);
		case "wait":
			return { outcome: "waiting", detail: `${node.duration}s`, dueAt: new Date(now.getTime() + (node.duration ?? 0) * 1000) };
		case "add_tag":
			await callFor(env.ctx, merchantId, "contacts.addTags", { id: contactId, tags: [node.tag!] });
			return { outcome: "tagged", detail: node.tag };
		case "remove_tag":
			await callFor(env.ctx, merchantId, "contacts.removeTag", { id: contactId, tagName: node.tag! });
			return { outcome: "untagged", detail: node.tag };
		case "set_attribute":
			await callFor(env.ctx, merchantId, "contacts.setAttributes", { id: contactId, attributes: { [node.key!]: node.value ?? null } });
			return { outcome: "attribute_set", detail: node.key };
		case "assign_conversation": {
			const conversation = await openConversation(merchantId, contactId);
			if (!conversation) return { outcome: "skipped", detail: "no_open_conversation" };
			let userId = node.userId;
			if (node.userIds?.length && (node.strategy ?? "round_robin") === "round_robin") {
				userId = node.userIds[(await takeTurn(flow, path, run._id)) % node.userIds.length];
			}
			await callFor(env.ctx, merchantId, "inbox.assign", { id: conversation._id, userId: userId! });
			return { outcome: "assigned", detail: userId };
		}
		case "close_conversation": {
			const conversation = await openConversation(merchantId, contactId);
			if (!conversation) return { outcome: "skipped", detail: "no_open_conversation" };
			await callFor(env.ctx, merchantId, "inbox.close", { id: conversation._id, ...(node.reason ? { reason: node.reason } : {}) });
			return { outcome: "closed", detail: conversation._id };
		}
		case "condition": {
			const filter = compileConditions(node.conditions ?? [], node.match ?? "all", now);
			const matched = (await ContactModel.countDocuments({ _id: contactId, ...filter, merchantId })) > 0;
			const branch = matched ? "then" : "else";
			return { outcome: branch, next: enterBranch(flow.nodes as FlowNode[], path, branch) };
		}
		default:
			return { outcome: "failed", detail: `unknown node type ${String((node as { type?: unknown }).type)}`, fail: true };
	}
}

async function sendStep(env: EngineEnv, run: Lean<FlowRun>, node: FlowNode, path: string): Promise<StepResult> {
	const [template, contact] = await Promise.all([
		TemplateModel.findById(node.templateId).lean(),
		ContactModel.findById(run.contactId, { merchantId: 1, username: 1, displayName: 1, attributes: 1 }).lean(),
	]);
	if (!template || template.merchantId !== run.merchantId) return { outcome: "failed", detail: "template_missing" };
	if (!contact || contact.merchantId !== run.merchantId) return { outcome: "skipped", detail: "contact_missing" };
	const composed = composeMessage(template, contact, node.variables ?? {});
	if (!composed.ok)
		return composed.reason.startsWith("missing_variables")
			? { outcome: "skipped", detail: composed.reason }
			: { outcome: "failed", detail: composed.reason };
	let res: SendToContactResult;
	try {
		res = await callFor(env.ctx, run.merchantId, "inbox.sendToContact", {
			contactId: run.contactId,
			content: composed.text,
			origin: `flow:${run._id}`,
			...(composed.mediaUrl ? { imageUrl: composed.mediaUrl } : {}),
			idempotencyKey: `flow:${run._id}:${path}`,
		});
	} catch (err) {
		// Another node is sending this very step (its key is taken): try again after it.
		if ((err as { type?: string }).type === "IDEMPOTENCY_IN_PROGRESS" || (err as { retryable?: boolean }).retryable) {
			return {
				outcome: "retrying",
				detail: errText(err),
				retry: true,
				dueAt: new Date(clock.now().getTime() + RETRY_TRANSIENT_SECONDS * 1000),
			};
		}
		throw err;
	}
	switch (res.status) {
		case "sent":
			return { outcome: "sent", detail: res.messageId };
		case "skipped":
			return { outcome: "skipped", detail: res.reason };
		case "held": {
			// Nothing went out (a send limit, X's 429, X out): the same step again when it may go.
			const retryAt = new Date(Math.max(new Date(res.retryAt).getTime(), clock.now().getTime() + 1000));
			return {
				outcome: res.cause === "rate_limited" ? "rate_limited" : "x_unavailable",
				detail: `retry at ${retryAt.toISOString()}`,
				retry: true,
				dueAt: retryAt,
			};
		}
		case "unknown":
			// The DM may or may not have reached X: never sent again (the message is recorded "unknown").
			return { outcome: "unknown", detail: "X did not confirm the message" };
		default:
			return { outcome: "failed", detail: "reason" in res ? String(res.reason) : "send_failed" };
	}
}

/** Runs whose next step is due (oldest first), for the sweep and for tests moving the clock. */
export async function dueRunIds(now: Date, limit: number): Promise<string[]> {
	const rows = await FlowRunModel.find({ status: "active", dueAt: { $lte: now } }, { _id: 1 })
		.sort({ dueAt: 1 })
		.limit(limit)
		.lean();
	return rows.map(r => r._id as string);
}
