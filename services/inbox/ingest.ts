import type { Context } from "moleculer";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { isDuplicateKey, uuidFromName } from "../../lib/ids.ts";
import type { XUserProfile } from "../webhooks/account-activity.ts";
import { isOptOutMessage } from "../contacts/opt-out.ts";
import { findOrCreateContact, findOrOpenConversation, refreshContactCounters, refreshConversationCounters } from "./records.ts";

export interface IngestInput {
	merchantId: string;
	accountId: string;
	accountTwitterUserId: string;
	message: { eventId: string; createdAt: string; senderId: string; recipientId: string; text: string; mediaUrl: string | null };
	profile: XUserProfile | null;
}

/**
 * Stores one DM event from X. Idempotent on X's event id: the message's id is derived from
 * (account, event id), so a replay finds it and only finishes what a crash may have left undone
 * (counters, events). A DM the account sent itself (from X's app, or the echo of our own send)
 * is recorded as outbound once.
 */
export async function ingestDirectMessage(ctx: Context, input: IngestInput): Promise<{ messageId: string; stored: boolean }> {
	const { merchantId, accountId, accountTwitterUserId, message, profile } = input;
	const outbound = message.senderId === accountTwitterUserId;
	const customerId = outbound ? message.recipientId : message.senderId;
	const at = new Date(message.createdAt);
	const messageId = uuidFromName(`x-dm:${accountId}:${message.eventId}`);

	if (outbound) {
		// The echo of a message sent through mkt-x: already in the thread under its own id.
		const ours = await MessageModel.findOne({ accountId, twitterMessageId: message.eventId, _id: { $ne: messageId } }, { _id: 1 }).lean();
		if (ours) return { messageId: ours._id, stored: false };
	}

	const existing = await MessageModel.findById(messageId).lean();
	let stored = false;
	let contactId: string;
	let conversationId: string;
	if (existing) {
		contactId = existing.contactId;
		conversationId = existing.conversationId;
	} else {
		const contact = await findOrCreateContact(merchantId, accountId, customerId, profile, at);
		contactId = contact.contactId;
		const { conversation, created } = await findOrOpenConversation(merchantId, accountId, contactId, at);
		conversationId = conversation._id;
		const awaiting = conversation.awaitingReplySince ? new Date(conversation.awaitingReplySince) : null;
		try {
			await MessageModel.create({
				_id: messageId,
				merchantId,
				accountId,
				conversationId,
				contactId,
				direction: outbound ? "outbound" : "inbound",
				type: message.mediaUrl ? "image" : "text",
				content: message.text,
				attachments: message.mediaUrl ? [{ type: "image", url: message.mediaUrl }] : [],
				twitterMessageId: message.eventId,
				status: outbound ? "sent" : "received",
				origin: outbound ? "x_app" : null,
				sentAt: at,
				responseSeconds: outbound && awaiting ? Math.max(0, Math.round((at.getTime() - awaiting.getTime()) / 1000)) : null,
				createdContact: contact.created,
				createdConversation: created,
			});
			stored = true;
		} catch (err) {
			if (!isDuplicateKey(err)) throw err; // a concurrent delivery of the same event stored it
		}
	}

	if (outbound) {
		await ConversationModel.updateOne({ _id: conversationId }, { $set: { awaitingReplySince: null, needsHuman: false } });
		await ConversationModel.updateOne({ _id: conversationId, firstResponseAt: null }, { $set: { firstResponseAt: at } });
	} else {
		await ConversationModel.updateOne({ _id: conversationId, awaitingReplySince: null }, { $set: { awaitingReplySince: at } });
	}
	await refreshConversationCounters(conversationId);
	await refreshContactCounters(contactId);
	// "STOP", "hủy"…: the customer opts out of automated messages (idempotent, so a replay is harmless).
	if (!outbound && isOptOutMessage(message.text)) await ctx.call("contacts.optOut", { id: contactId }, { meta: { merchantId } });
	await announce(ctx, messageId);
	return { messageId, stored };
}

/** Emits the events of a stored message once its effects are in place; again after a crash. */
async function announce(ctx: Context, messageId: string): Promise<void> {
	const m = await MessageModel.findById(messageId).lean();
	if (!m || m.announcedAt) return;
	const base = { merchantId: m.merchantId, accountId: m.accountId, contactId: m.contactId };
	if (m.createdContact) ctx.emit("contact.created", { ...base, source: "inbound_message" });
	if (m.createdConversation) ctx.emit("conversation.created", { ...base, conversationId: m.conversationId });
	const payload = { ...base, conversationId: m.conversationId, messageId: m._id, content: m.content, at: m.sentAt };
	ctx.emit(m.direction === "inbound" ? "message.received" : "message.sent", payload);
	await MessageModel.updateOne({ _id: messageId }, { $set: { announcedAt: new Date() } });
}

/** The customer read up to `lastReadEventId`: outbound messages up to it are read. */
export async function markRead(
	ctx: Context,
	input: { merchantId: string; accountId: string; customerTwitterUserId: string; lastReadEventId: string; at: string }
): Promise<{ updated: number }> {
	const upTo = await MessageModel.findOne({ accountId: input.accountId, twitterMessageId: input.lastReadEventId }).lean();
	if (!upTo) return { updated: 0 };
	const filter: Record<string, unknown> = {
		merchantId: input.merchantId,
		contactId: upTo.contactId,
		direction: "outbound",
		status: "sent",
		sentAt: { $lte: upTo.sentAt },
	};
	const reading = await MessageModel.find(filter, { _id: 1, origin: 1 }).lean();
	if (!reading.length) return { updated: 0 };
	await MessageModel.updateMany({ _id: { $in: reading.map(m => m._id) } }, { $set: { status: "read", readAt: new Date(input.at) } });
	ctx.emit("message.read", {
		merchantId: input.merchantId,
		accountId: input.accountId,
		contactId: upTo.contactId,
		messages: reading.map(m => ({ messageId: m._id, origin: m.origin })),
		at: input.at,
	});
	return { updated: reading.length };
}
