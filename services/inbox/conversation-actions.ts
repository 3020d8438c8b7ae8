import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { OutcomeUnknownError } from "../../lib/errors.ts";
import { config } from "../../lib/config.ts";
import { enqueue, type ConversationActionData, type ConversationActionKind, type Row } from "./activity.ts";
import type { Caller } from "./writer.ts";

// Agents' actions on a conversation (close, assign) and the bot's escalation, applied by the
// account's one writer. FerretDB applies an update as read-modify-write of the whole document, so
// a close written beside a writer's batch on the same conversation could be undone (status back
// to open, its openKey lost), an assignment or a `needsHuman` lost; and the batch's own figures
// could be lost under the close. So the action is a queued row like a message: the writer applies
// it in arrival order with the messages (an inbound message applied before the close counts in the
// closed conversation, one after it opens a new one), and the request waits for it to be applied.
// See docs/ingest.md.

/** Broadcast by the writer once action rows are applied: `{ results: { [rowId]: changed } }`. */
export const ACTIONS_APPLIED = "inbox.actions.applied";

const ACTION_KINDS = new Set<string>(["close", "assign", "escalate"]);
export const isConversationAction = (kind: string): kind is ConversationActionKind => ACTION_KINDS.has(kind);

type ActionRow = Pick<Row, "_id" | "kind" | "at" | "merchantId" | "accountId"> & { data: unknown };

/** The queued row of an action; its id names the request, so a repeat of it while queued adds nothing. */
export function actionRow(
	kind: ConversationActionKind,
	conversation: Pick<Conversation, "_id" | "merchantId" | "accountId">,
	requestId: string,
	data: Omit<ConversationActionData, "conversationId">
): Row {
	return {
		_id: `${kind}:${conversation._id}:${requestId}`,
		accountId: conversation.accountId,
		merchantId: conversation.merchantId,
		kind,
		at: new Date(),
		data: { conversationId: conversation._id, ...data },
	};
}

// Requests waiting on this process for their rows, by row id (woken by ACTIONS_APPLIED).
const waiting = new Map<string, Set<(changed: boolean | null) => void>>();

/** Called on ACTIONS_APPLIED (every inbox node hears it): wakes the requests waiting here. */
export function actionsApplied(results: Record<string, boolean>): void {
	for (const [id, changed] of Object.entries(results ?? {})) for (const done of waiting.get(id) ?? []) done(changed);
}

const POLL_MS = 250;

/**
 * Queues the row, wakes the writers, and waits until it is applied: `changed` (whether it changed
 * the conversation; null when only its absence from the queue was seen). Not applied within
 * `waitMs`: 504 OUTCOME_UNKNOWN, and the row stays queued (it will be applied).
 */
export async function applyThroughWriter(
	emitter: { broadcast(event: string, payload: unknown): unknown },
	row: Row,
	waitMs: number
): Promise<boolean | null> {
	let done!: (changed: boolean | null) => void;
	const applied = new Promise<boolean | null>(resolve => (done = resolve));
	const set = waiting.get(row._id) ?? new Set();
	set.add(done);
	waiting.set(row._id, set);
	let timer: NodeJS.Timeout | undefined;
	let stopped = false;
	try {
		await enqueue(emitter, [row]);
		// The event may be lost (a node's NATS link): the row leaving the queue says it as well.
		const poll = async () => {
			while (!stopped) {
				await new Promise(r => setTimeout(r, POLL_MS));
				if (!stopped && !(await InboxActivityModel.exists({ _id: row._id }))) return done(null);
			}
		};
		void poll().catch(() => {});
		const deadline = new Promise<"late">(resolve => (timer = setTimeout(() => resolve("late"), waitMs)));
		const outcome = await Promise.race([applied, deadline]);
		if (outcome === "late")
			throw new OutcomeUnknownError("The change was not applied in time: it is queued and will be applied; read the conversation back");
		return outcome;
	} finally {
		stopped = true;
		clearTimeout(timer);
		set.delete(done);
		if (!set.size) waiting.delete(row._id);
	}
}

/** What an action handler has of its request: its id (a repeat carries the same) and the broadcaster. */
interface RequestContext {
	id: string;
	requestID?: string | null;
	broadcast(event: string, payload: unknown): unknown;
}

/**
 * The request's part: queues the action for the account's writer and waits for it to be applied
 * (INBOX_ACTION_WAIT_MS, then 504 OUTCOME_UNKNOWN). Answers whether it changed the conversation.
 */
export async function requestAction(
	ctx: RequestContext,
	kind: ConversationActionKind,
	conversation: Pick<Conversation, "_id" | "merchantId" | "accountId">,
	data: Omit<ConversationActionData, "conversationId">
): Promise<boolean> {
	const row = actionRow(kind, conversation, ctx.requestID || ctx.id, data);
	const changed = await applyThroughWriter(ctx, row, config().inbox.actionWaitMs);
	if (changed !== null) return changed;
	// Seen applied without its event: what it did is on the conversation (only escalate asks).
	const now = await ConversationModel.findById(conversation._id, {
		needsHuman: 1,
		escalatedAt: 1,
		assignedToUserId: 1,
		closedAt: 1,
	}).lean();
	if (kind === "escalate") return Boolean(now?.needsHuman && now.escalatedAt && +new Date(now.escalatedAt) === +row.at);
	if (kind === "close") return Boolean(now?.closedAt && +new Date(now.closedAt) === +row.at);
	return now?.assignedToUserId === data.userId;
}

/**
 * The writer's part: applies a run of consecutive action rows of one merchant, in order, with one
 * read of their conversations and one bulk write, then emits their events. Returns, per row,
 * whether it changed its conversation (a close of a closed one, an escalation of an escalated
 * one, an erased conversation: no).
 */
export async function applyActions(
	ctx: Caller,
	merchantId: string,
	rows: ActionRow[],
	stillHeld: () => void = () => {}
): Promise<Record<string, boolean>> {
	const ids = [...new Set(rows.map(r => (r.data as ConversationActionData).conversationId))];
	const current = new Map(
		(await ConversationModel.find({ _id: { $in: ids }, merchantId }).lean<Conversation[]>()).map(c => [c._id, { ...c }])
	);
	const sets = new Map<string, Record<string, unknown>>();
	const events: [string, Record<string, unknown>][] = [];
	const results: Record<string, boolean> = {};
	for (const row of rows) {
		const d = row.data as ConversationActionData;
		const c = current.get(d.conversationId);
		results[row._id] = false;
		if (!c) continue; // erased meanwhile
		const at = new Date(row.at);
		let change: Record<string, unknown> | null = null;
		if (row.kind === "close" && c.status === "open") {
			change = { status: "closed", openKey: `closed:${c._id}`, closedAt: at, closeReason: d.reason ?? null, needsHuman: false };
			events.push([
				"conversation.closed",
				{
					merchantId: c.merchantId,
					accountId: c.accountId,
					contactId: c.contactId,
					conversationId: c._id,
					reason: d.reason ?? null,
					closedByUserId: d.byUserId ?? null,
				},
			]);
		} else if (row.kind === "assign") {
			change = { assignedToUserId: d.userId };
			events.push([
				"conversation.assigned",
				{ merchantId: c.merchantId, conversationId: c._id, contactId: c.contactId, userId: d.userId, byUserId: d.byUserId ?? null },
			]);
		} else if (row.kind === "escalate" && !c.needsHuman) {
			change = { needsHuman: true, escalatedAt: at };
			events.push(["conversation.escalated", { merchantId: c.merchantId, conversationId: c._id, reason: d.reason ?? null }]);
		}
		if (!change) continue;
		Object.assign(c, change);
		sets.set(c._id, { ...sets.get(c._id), ...change });
		results[row._id] = true;
	}
	stillHeld();
	if (sets.size)
		await ConversationModel.bulkWrite(
			[...sets].map(([id, $set]) => ({ updateOne: { filter: { _id: id }, update: { $set } } })),
			{ ordered: false }
		);
	for (const [name, payload] of events) ctx.emit(name, payload);
	return results;
}
