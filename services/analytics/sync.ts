import mongoose from "mongoose";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { AnalyticsFactModel } from "../../models/analytics-fact.model.ts";
import {
	campaignFacts,
	campaignSlotId,
	contactFacts,
	conversationFacts,
	messageFacts,
	type CampaignLike,
	type ContactLike,
	type ConversationLike,
	type MessageLike,
} from "./facts.ts";
import { syncSlots, type QuarterKey, type StoreLogger } from "./store.ts";
import { quarterStart } from "./buckets.ts";

// The live path: an event names an entity; its facts are derived again from the entity as it is
// now (read by `_id`), never from the event's payload, so a replayed, late or out-of-order event
// changes nothing, and the rebuild (./rebuild.ts), deriving from the same rows, agrees.

/** The campaigns collection (owned by the campaigns service): only these fields are read. */
export interface CampaignRow {
	_id: string;
	merchantId: string;
	status?: string;
	accountId?: string | null;
	completedAt?: Date | string | null;
	updatedAt?: Date | string | null;
}

export const campaignsCollection = () => mongoose.connection.db!.collection<CampaignRow>("campaigns");

/** A completed campaign row as a fact source (completedAt, else its last update). */
export function campaignFromRow(row: CampaignRow): CampaignLike | null {
	if (row.status !== "completed") return null;
	return {
		merchantId: row.merchantId,
		campaignId: row._id,
		accountId: row.accountId ?? null,
		completedAt: row.completedAt ?? row.updatedAt ?? null,
	};
}

export async function syncMessage(messageId: string, log: StoreLogger): Promise<Set<QuarterKey>> {
	return syncSlots(async () => messageFacts(messageId, await MessageModel.findById(messageId).lean<MessageLike>()), log);
}

/** The conversation's messages that could be its first response (sent at its firstResponseAt). */
export async function firstResponseCandidates(c: ConversationLike | null): Promise<MessageLike[]> {
	if (!c?.firstResponseAt) return [];
	return MessageModel.find({ conversationId: c._id, sentAt: c.firstResponseAt, direction: "outbound" }).lean<MessageLike[]>();
}

export async function syncConversation(conversationId: string, log: StoreLogger): Promise<Set<QuarterKey>> {
	return syncSlots(async () => {
		const c = await ConversationModel.findById(conversationId).lean<ConversationLike>();
		return conversationFacts(conversationId, c, await firstResponseCandidates(c));
	}, log);
}

export async function syncContact(contactId: string, log: StoreLogger): Promise<Set<QuarterKey>> {
	return syncSlots(async () => contactFacts(contactId, await ContactModel.findById(contactId).lean<ContactLike>()), log);
}

/**
 * A completed campaign: from its row in the campaigns collection when there is one, else from
 * the event (`completedAt` or `at`, else now; `accountId` if given). A campaign row that is not
 * completed (restarted?) holds no fact.
 */
export async function syncCampaign(
	payload: { merchantId: string; campaignId: string; accountId?: string | null; completedAt?: string; at?: string },
	log: StoreLogger,
	now: () => Date = () => new Date()
): Promise<Set<QuarterKey>> {
	const fromEvent: CampaignLike = {
		merchantId: payload.merchantId,
		campaignId: payload.campaignId,
		accountId: payload.accountId ?? null,
		completedAt: payload.completedAt ?? payload.at ?? now(),
	};
	// The event's time is fixed once recorded, so a replay does not move it.
	const recorded = await AnalyticsFactModel.findById(campaignSlotId(payload.merchantId, payload.campaignId)).lean();
	if (recorded && !recorded.deleted) fromEvent.completedAt = quarterStart(recorded.quarter);
	return syncSlots(async () => {
		const row = await campaignsCollection().findOne({ _id: payload.campaignId });
		if (row && row.merchantId !== payload.merchantId) return {};
		if (!row) return campaignFacts(fromEvent);
		const fromRow = campaignFromRow(row);
		return fromRow ? campaignFacts(fromRow) : { [campaignSlotId(payload.merchantId, payload.campaignId)]: null };
	}, log);
}
