import type { Conversation } from "../../models/conversation.model.ts";
import type { Message } from "../../models/message.model.ts";

export function presentConversation(c: Conversation, contact?: { username?: string; displayName?: string } | null) {
	return {
		id: c._id,
		contactId: c.contactId,
		accountId: c.accountId,
		status: c.status,
		channel: c.channel,
		assignedToUserId: c.assignedToUserId ?? null,
		messageCount: c.messageCount,
		startedAt: c.startedAt,
		lastMessageAt: c.lastMessageAt ?? null,
		closedAt: c.closedAt ?? null,
		closeReason: c.closeReason ?? null,
		needsHuman: c.needsHuman ?? false,
		...(contact !== undefined
			? { contact: contact ? { username: contact.username ?? "", displayName: contact.displayName ?? "" } : null }
			: {}),
	};
}

export function presentMessage(m: Message) {
	return {
		id: m._id,
		conversationId: m.conversationId,
		twitterMessageId: m.twitterMessageId ?? null,
		direction: m.direction,
		type: m.type,
		content: m.content,
		attachments: (m.attachments ?? []).map(a => ({ type: a.type, url: a.url })),
		isFromBot: m.isFromBot ?? false,
		status: m.status,
		failureReason: m.failureReason ?? null,
		sentAt: m.sentAt ?? null,
		readAt: m.readAt ?? null,
	};
}

/** Opaque cursor of a message in a thread (oldest first): its time and id. */
export function messageCursor(m: { sentAt?: Date | null; createdAt?: Date | null; _id: string }): string {
	const at = (m.sentAt ?? m.createdAt ?? new Date(0)).toISOString();
	return Buffer.from(`${at}|${m._id}`).toString("base64url");
}

export function readCursor(cursor: string): { at: Date; id: string } | null {
	const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
	const date = new Date(at);
	return id && !Number.isNaN(date.getTime()) ? { at: date, id } : null;
}
