import type { Context } from "moleculer";
import { ContactModel } from "../../models/contact.model.ts";
import type { Conversation } from "../../models/conversation.model.ts";
import { MessageModel, type Message } from "../../models/message.model.ts";
import { IdempotencyKeyModel } from "../../models/idempotency-key.model.ts";
import { ConflictError, NotFoundError } from "../../lib/errors.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { findOrOpenConversation } from "./records.ts";
import { recordSent } from "./activity.ts";
import { AccountModel } from "../../models/account.model.ts";
import { automatedSendSkipReason, type SkipReason } from "./eligibility.ts";

export interface SendInput {
	merchantId: string;
	conversation: Conversation;
	content: string;
	type?: string;
	imageUrl?: string | null;
	sentByUserId?: string | null;
	/** "agent" (a person in the dashboard), "bot", "campaign:<id>", "flow:<runId>" */
	origin: string;
	idempotencyKey?: string;
}

export type SendKind = "agent" | "bot" | "campaign" | "flow";
const kindOf = (origin: string): SendKind => (origin.split(":")[0] as SendKind) ?? "agent";

/**
 * Sends one DM in a conversation. The message is stored `pending` first, then sent through the
 * x service (which owns the shared send limits), then marked `sent` with X's id or `failed`
 * with the reason. With an Idempotency-Key, a repeat of the request sends nothing new and
 * answers the first request's message.
 */
export async function sendInConversation(ctx: Context, input: SendInput): Promise<Message> {
	const { merchantId, conversation } = input;
	let claimId: string | null = null;
	if (input.idempotencyKey) {
		claimId = `${merchantId}:conversation-send:${input.idempotencyKey}`;
		try {
			await IdempotencyKeyModel.create({ _id: claimId, merchantId });
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
			const claim = await IdempotencyKeyModel.findById(claimId).lean();
			const earlier = claim?.resultId ? await MessageModel.findById(claim.resultId).lean<Message>() : null;
			if (!earlier) throw new ConflictError("A request with this Idempotency-Key is still in progress", "IDEMPOTENCY_IN_PROGRESS");
			return earlier;
		}
	}
	const contact = await ContactModel.findOne({ _id: conversation.contactId, merchantId }).lean();
	if (!contact) throw new NotFoundError("Contact");

	const kind = kindOf(input.origin);
	const pending = await MessageModel.create({
		merchantId,
		accountId: conversation.accountId,
		conversationId: conversation._id,
		contactId: conversation.contactId,
		direction: "outbound",
		type: input.imageUrl ? "image" : (input.type ?? "text"),
		content: input.content,
		attachments: input.imageUrl ? [{ type: "image", url: input.imageUrl }] : [],
		isFromBot: kind === "bot",
		status: "pending",
		sentByUserId: input.sentByUserId ?? null,
		origin: input.origin,
	});
	if (claimId) await IdempotencyKeyModel.updateOne({ _id: claimId }, { $set: { resultId: pending._id } });

	let sent: { twitterMessageId: string; sentAt: string };
	try {
		sent = (await ctx.call("x.sendDirectMessage", {
			merchantId,
			accountId: conversation.accountId,
			recipientTwitterUserId: contact.twitterUserId,
			text: input.content,
			...(input.imageUrl ? { mediaUrl: input.imageUrl } : {}),
			kind,
		})) as { twitterMessageId: string; sentAt: string };
	} catch (err) {
		const e = err as { code?: number; type?: string; message?: string };
		if (e.code === 429) {
			// Nothing went out: leave no trace, so the same request may be made again later.
			await MessageModel.deleteOne({ _id: pending._id });
			if (claimId) await IdempotencyKeyModel.deleteOne({ _id: claimId });
			throw err;
		}
		// A timeout or cut connection on the DM itself: X may or may not have it. Recorded as
		// `unknown`, never resent blindly.
		const status = e.type === "X_DELIVERY_UNKNOWN" ? "unknown" : "failed";
		await MessageModel.updateOne({ _id: pending._id }, { $set: { status, failureReason: e.message ?? "send failed" } });
		ctx.emit("message.failed", { merchantId, conversationId: conversation._id, messageId: pending._id, reason: e.message, origin: input.origin });
		if (typeof e.code === "number" && e.code >= 500) throw err;
		return (await MessageModel.findById(pending._id).lean<Message>())!;
	}

	const sentAt = new Date(sent.sentAt);
	await MessageModel.updateOne({ _id: pending._id }, { $set: { status: "sent", twitterMessageId: sent.twitterMessageId, sentAt } });
	// The figures it moves (counts, response time, the reply clock) are the account writer's.
	await recordSent(ctx, [
		{
			messageId: pending._id,
			merchantId,
			accountId: conversation.accountId,
			conversationId: conversation._id,
			contactId: conversation.contactId,
			sentAt,
			kind,
			twitterMessageId: sent.twitterMessageId,
		},
	]);
	ctx.emit("message.sent", {
		merchantId,
		accountId: conversation.accountId,
		contactId: conversation.contactId,
		conversationId: conversation._id,
		messageId: pending._id,
		origin: input.origin,
		at: sentAt.toISOString(),
	});
	return (await MessageModel.findById(pending._id).lean<Message>())!;
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

export type SendToContactResult =
	| { status: "sent" | "failed"; messageId: string; conversationId: string; twitterMessageId: string | null; failureReason: string | null }
	| { status: "skipped"; reason: SkipReason };

export async function sendToContact(ctx: Context, p: SendToContactParams): Promise<SendToContactResult> {
	const contact = await ContactModel.findOne({ _id: p.contactId, merchantId: p.merchantId }).lean();
	const account = contact ? await AccountModel.findOne({ _id: contact.accountId, merchantId: p.merchantId }, { status: 1 }).lean() : null;
	const kind = kindOf(p.origin);
	const reason = automatedSendSkipReason(kind, { accountActive: account?.status === "active", contact });
	if (reason) return { status: "skipped", reason };
	const { conversation } = await findOrOpenConversation(p.merchantId, contact!.accountId, contact!._id, new Date());
	const message = await sendInConversation(ctx, {
		merchantId: p.merchantId,
		conversation,
		content: p.content,
		imageUrl: p.imageUrl ?? null,
		origin: p.origin,
		idempotencyKey: p.idempotencyKey,
	});
	return {
		status: message.status === "failed" || message.status === "unknown" ? "failed" : "sent",
		messageId: message._id,
		conversationId: message.conversationId,
		twitterMessageId: message.twitterMessageId ?? null,
		failureReason: message.failureReason ?? null,
	};
}
