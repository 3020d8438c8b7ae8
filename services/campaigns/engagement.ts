import { isDuplicateKey } from "../../lib/ids.ts";
import { CampaignDeliveryModel, deliveryId } from "../../models/campaign-delivery.model.ts";
import { CampaignLinkModel } from "../../models/campaign-link.model.ts";
import { CampaignOnceModel } from "../../models/campaign-once.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";

// Opens, clicks and replies, written on the delivery rows and counted from them. Each is a
// time set once (a replayed event or a second click finds it set and changes nothing), and only
// on a delivery X accepted. A click or a reply also proves the message was read, so it sets
// `openedAt` when X sent no read receipt (people can turn those off): opened ≥ clicked, replied.

const CAMPAIGN_ORIGIN = /^campaign:(.+)$/;

/** `message.read`: the recipient read campaign messages. */
export async function recordReads(event: {
	contactId: string;
	messages: { messageId: string; origin?: string | null }[];
	at: string | Date;
}): Promise<number> {
	let opened = 0;
	const at = new Date(event.at);
	for (const m of event.messages ?? []) {
		const match = CAMPAIGN_ORIGIN.exec(m.origin ?? "");
		if (!match) continue;
		const res = await CampaignDeliveryModel.updateOne(
			{ _id: deliveryId(match[1], event.contactId), messageId: m.messageId, status: "sent", openedAt: null },
			{ $set: { openedAt: at } }
		);
		opened += res.modifiedCount ?? 0;
	}
	return opened;
}

/**
 * `message.received`: a reply within the window after a campaign message is that campaign's.
 * When several campaigns reached the contact within the window, the latest one gets it. The
 * campaign's reply is the contact's first message after it: the answer names the campaign when
 * this message is that reply (also when it is replayed), null otherwise.
 */
export async function recordReply(
	event: { merchantId: string; contactId: string; messageId: string; at: string | Date },
	windowMs: number
): Promise<{ campaignId: string } | null> {
	const at = new Date(event.at);
	const delivery = await CampaignDeliveryModel.findOne(
		{
			contactId: event.contactId,
			merchantId: event.merchantId,
			status: "sent",
			sentAt: { $lte: at, $gte: new Date(at.getTime() - windowMs) },
		},
		{ _id: 1, campaignId: 1 }
	)
		.sort({ sentAt: -1 })
		.lean();
	if (!delivery) return null;
	const res = await CampaignDeliveryModel.updateOne(
		{ _id: delivery._id, repliedAt: null },
		{ $set: { repliedAt: at, replyMessageId: event.messageId } }
	);
	await CampaignDeliveryModel.updateOne({ _id: delivery._id, openedAt: null }, { $set: { openedAt: at } });
	if (res.modifiedCount) return { campaignId: delivery.campaignId };
	const stored = await CampaignDeliveryModel.findById(delivery._id, { replyMessageId: 1 }).lean();
	return stored?.replyMessageId === event.messageId ? { campaignId: delivery.campaignId } : null;
}

/** GET /r/<token>: the link's URL, with the delivery's first click recorded; null for an unknown token. */
export async function recordClick(token: string, now: Date): Promise<{ url: string; first: boolean } | null> {
	const link = await CampaignLinkModel.findById(token).lean();
	if (!link) return null;
	let first = true;
	try {
		await CampaignOnceModel.create({ _id: `click:${link.deliveryId}`, campaignId: link.campaignId, at: now });
	} catch (err) {
		if (!isDuplicateKey(err)) throw err;
		first = false;
	}
	// The first click's own time, also when this request is a later one finishing what a crash left.
	const once = await CampaignOnceModel.findById(`click:${link.deliveryId}`).lean();
	const at = once?.at ?? now;
	await CampaignDeliveryModel.updateOne({ _id: link.deliveryId, status: "sent", clickedAt: null }, { $set: { clickedAt: at } });
	await CampaignDeliveryModel.updateOne({ _id: link.deliveryId, status: "sent", openedAt: null }, { $set: { openedAt: at } });
	return { url: link.url, first };
}

/** GDPR erasure of a contact: every campaign row about it. */
export async function eraseContactRows(merchantId: string, contactId: string): Promise<{ campaignDeliveries: number }> {
	const rows = await CampaignDeliveryModel.find({ merchantId, contactId }, { _id: 1 }).lean();
	const res = await CampaignDeliveryModel.deleteMany({ merchantId, contactId });
	if (rows.length) await CampaignOnceModel.deleteMany({ _id: { $in: rows.map(r => `click:${r._id}`) } });
	await CampaignLinkModel.deleteMany({ merchantId, contactId });
	await CampaignSendClaimModel.deleteMany({ merchantId, contactId });
	return { campaignDeliveries: res.deletedCount ?? 0 };
}
