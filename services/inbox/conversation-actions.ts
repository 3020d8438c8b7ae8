import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { OutcomeUnknownError } from "../../lib/errors.ts";
import { config } from "../../lib/config.ts";
import { enqueue, type ConversationActionData, type ConversationActionKind, type Row } from "./activity.ts";

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
