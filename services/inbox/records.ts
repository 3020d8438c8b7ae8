import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { isDuplicateKey } from "../../lib/ids.ts";

// Opening a conversation must hold under concurrent senders and writers on FerretDB, whose
// single-document updates are not atomic: the contact's one open conversation is claimed by a
// unique insert of its openKey, never by an update.

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
