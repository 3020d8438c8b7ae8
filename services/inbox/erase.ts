import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";

/** GDPR erase of what the inbox keeps about a contact: messages, conversations and queued activity. */
export async function eraseContactThreads(p: { merchantId: string; contactId: string; accountId?: string; twitterUserId?: string }) {
	const messages = (await MessageModel.deleteMany({ merchantId: p.merchantId, contactId: p.contactId })).deletedCount;
	const conversations = (await ConversationModel.deleteMany({ merchantId: p.merchantId, contactId: p.contactId })).deletedCount;
	// What the customer wrote and the writer has not applied yet goes too (it would bring the
	// contact back). Our own sends to them are in their messages, already gone.
	if (p.accountId && p.twitterUserId) await InboxActivityModel.deleteMany({ accountId: p.accountId, "data.customerId": p.twitterUserId });
	return { messages, conversations };
}
