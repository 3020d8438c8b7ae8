import type { Context } from "moleculer";
import { MessageModel, type Message } from "../../models/message.model.ts";
import type { Conversation } from "../../models/conversation.model.ts";
import { ConflictError, NotFoundError, RateLimitedError, UpstreamUnavailableError } from "../../lib/errors.ts";
import { XDeliveryUnknownError } from "../../lib/x/errors.ts";
import type { SendKind } from "./activity.ts";
import { sendBatch, type SendOutcome } from "./pipeline.ts";

// The single-message forms of the send pipeline (pipeline.ts): an agent's reply in a
// conversation, and one automated DM to a contact (a flow step, the bot).

export interface AgentSendInput {
	merchantId: string;
	conversation: Conversation;
	content: string;
	type?: string;
	imageUrl?: string | null;
	sentByUserId?: string | null;
	idempotencyKey?: string;
}

/**
 * An agent's DM in an open conversation → the stored message (sent, or failed with X's reason).
 * Nothing sent answers an error and leaves nothing behind: 429 RATE_LIMITED (with retryAfter),
 * 503 UPSTREAM_UNAVAILABLE; a DM that may have gone out is kept `unknown` and answers 503
 * X_DELIVERY_UNKNOWN. A repeat with the same Idempotency-Key answers the first message.
 */
export async function sendInConversation(ctx: Context, input: AgentSendInput): Promise<Message> {
	const [outcome] = await sendBatch(ctx, {
		merchantId: input.merchantId,
		kind: "agent",
		origin: "agent",
		sentByUserId: input.sentByUserId ?? null,
		conversation: input.conversation,
		items: [
			{
				key: "reply",
				contactId: input.conversation.contactId,
				content: input.content,
				type: input.type,
				imageUrl: input.imageUrl ?? null,
				idempotencyKey: input.idempotencyKey,
			},
		],
	});
	throwIfNotSent(outcome);
	if (outcome.status === "unknown") throw new XDeliveryUnknownError(outcome.reason);
	const messageId = outcome.status === "sent" || outcome.status === "failed" ? outcome.messageId : null;
	return (await MessageModel.findById(messageId).lean<Message>())!;
}

/** The outcomes that are errors for a single send: nothing was sent, or nothing may be. */
function throwIfNotSent(o: SendOutcome): void {
	if (o.status === "in_progress")
		throw new ConflictError("A request with this Idempotency-Key is still in progress", "IDEMPOTENCY_IN_PROGRESS");
	if (o.status === "skipped") {
		if (o.reason === "account_inactive") throw new ConflictError("The account is not connected", "ACCOUNT_INACTIVE");
		throw new NotFoundError("Contact");
	}
	if (o.status === "held" && o.cause === "rate_limited")
		throw new RateLimitedError(o.reason, o.retryAfter, { source: o.source, limits: o.limits, retryAt: o.retryAt });
	if (o.status === "held") throw new UpstreamUnavailableError(`X could not be reached: ${o.reason}`);
}

export interface SendToContactParams {
	merchantId: string;
	contactId: string;
	content: string;
	/** "bot", "campaign:<id>" or "flow:<runId>" */
	origin: string;
	imageUrl?: string;
	/** Makes a repeat (a retried job) answer the first send instead of sending again. */
	idempotencyKey?: string;
}

/** The outcome of one automated DM (SendOutcome without the batch's key). */
export type SendToContactResult = SendOutcome extends infer O ? (O extends unknown ? Omit<O, "key"> : never) : never;

export const kindOf = (origin: string): SendKind => origin.split(":")[0] as SendKind;

/** One automated DM to a contact in its open conversation, under X's rules → its outcome. */
export async function sendToContact(ctx: Context, p: SendToContactParams): Promise<SendToContactResult> {
	const [outcome] = await sendBatch(ctx, {
		merchantId: p.merchantId,
		kind: kindOf(p.origin),
		origin: p.origin,
		items: [
			{ key: p.contactId, contactId: p.contactId, content: p.content, imageUrl: p.imageUrl ?? null, idempotencyKey: p.idempotencyKey },
		],
	});
	if (outcome.status === "in_progress")
		throw new ConflictError("A request with this Idempotency-Key is still in progress", "IDEMPOTENCY_IN_PROGRESS");
	const { key: _key, ...rest } = outcome;
	return rest as SendToContactResult;
}
