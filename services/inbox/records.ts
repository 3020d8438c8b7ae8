import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import type { XUserProfile } from "../webhooks/account-activity.ts";

// The inbox's writes that must hold under concurrent deliveries on FerretDB: creation is decided
// by unique inserts, and counters are recounted from the rows they count and only ever raised
// ($max), so a replay or a race converges on the true figure instead of double counting.

export async function findOrCreateContact(
	merchantId: string,
	accountId: string,
	twitterUserId: string,
	profile: XUserProfile | null,
	at: Date
): Promise<{ contactId: string; created: boolean }> {
	const existing = await ContactModel.findOne({ accountId, twitterUserId }, { _id: 1 }).lean();
	if (existing) {
		if (profile) {
			await ContactModel.updateOne(
				{ _id: existing._id },
				{ $set: { username: profile.username, usernameLower: profile.username.toLowerCase(), profileImageUrl: profile.profileImageUrl } }
			);
		}
		return { contactId: existing._id, created: false };
	}
	try {
		const doc = await ContactModel.create({
			merchantId,
			accountId,
			twitterUserId,
			username: profile?.username ?? "",
			usernameLower: (profile?.username ?? "").toLowerCase(),
			displayName: profile?.displayName ?? "",
			profileImageUrl: profile?.profileImageUrl ?? null,
			source: "inbound_message",
			firstInteractionAt: at,
		});
		return { contactId: doc._id, created: true };
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		const winner = await ContactModel.findOne({ accountId, twitterUserId }, { _id: 1 }).lean();
		return { contactId: winner!._id, created: false };
	}
}

/** The contact's open conversation, or a new one (a closed conversation is never reopened). */
export async function findOrOpenConversation(
	merchantId: string,
	accountId: string,
	contactId: string,
	at: Date
): Promise<{ conversation: Conversation; created: boolean }> {
	const openKey = `open:${contactId}`;
	const existing = await ConversationModel.findOne({ openKey }).lean<Conversation>();
	if (existing) return { conversation: existing, created: false };
	try {
		const doc = await ConversationModel.create({ merchantId, accountId, contactId, openKey, startedAt: at });
		return { conversation: doc.toObject() as Conversation, created: true };
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		return { conversation: (await ConversationModel.findOne({ openKey }).lean<Conversation>())!, created: false };
	}
}

export async function refreshConversationCounters(conversationId: string): Promise<void> {
	const [messageCount, last, lastInbound] = await Promise.all([
		MessageModel.countDocuments({ conversationId }),
		MessageModel.findOne({ conversationId }, { sentAt: 1 }).sort({ sentAt: -1 }).lean(),
		MessageModel.findOne({ conversationId, direction: "inbound" }, { sentAt: 1 }).sort({ sentAt: -1 }).lean(),
	]);
	const max: Record<string, unknown> = { messageCount };
	if (last?.sentAt) max.lastMessageAt = last.sentAt;
	if (lastInbound?.sentAt) max.lastInboundAt = lastInbound.sentAt;
	await ConversationModel.updateOne({ _id: conversationId }, { $max: max });
}

export async function refreshContactCounters(contactId: string): Promise<void> {
	const [messagesReceived, messagesSent, conversationCount, first, last, lastInbound, replies] = await Promise.all([
		MessageModel.countDocuments({ contactId, direction: "inbound" }),
		MessageModel.countDocuments({ contactId, direction: "outbound", status: { $in: ["sent", "read"] } }),
		ConversationModel.countDocuments({ contactId }),
		MessageModel.findOne({ contactId }, { sentAt: 1 }).sort({ sentAt: 1 }).lean(),
		MessageModel.findOne({ contactId }, { sentAt: 1 }).sort({ sentAt: -1 }).lean(),
		MessageModel.findOne({ contactId, direction: "inbound" }, { sentAt: 1 }).sort({ sentAt: -1 }).lean(),
		MessageModel.find({ contactId, responseSeconds: { $ne: null } }, { responseSeconds: 1 }).lean(),
	]);
	const max: Record<string, unknown> = {
		messagesReceived,
		messagesSent,
		conversationCount,
		responseCount: replies.length,
		responseTimeTotalSeconds: replies.reduce((sum, m) => sum + (m.responseSeconds ?? 0), 0),
	};
	if (last?.sentAt) max.lastInteractionAt = last.sentAt;
	if (lastInbound?.sentAt) max.lastInboundAt = lastInbound.sentAt;
	const update: Record<string, unknown> = { $max: max };
	if (first?.sentAt) {
		// $min would keep a null (null sorts before dates), so a missing value is set first.
		await ContactModel.updateOne({ _id: contactId, firstInteractionAt: null }, { $set: { firstInteractionAt: first.sentAt } });
		update.$min = { firstInteractionAt: first.sentAt };
	}
	await ContactModel.updateOne({ _id: contactId }, update);
}
