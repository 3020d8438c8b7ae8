import type { ServiceBroker } from "moleculer";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { uuidFromName } from "../../lib/ids.ts";
import { waitUntil } from "./node.ts";

/**
 * A customer's DM, queued for the account's writer as the webhooks service queues what X
 * delivers, and waited for until it is stored and announced (its counters in place).
 */
export async function customerWrites(
	broker: ServiceBroker,
	p: { merchantId: string; accountId: string; customerId: string; eventId: string; text: string; at?: Date; accountTwitterUserId?: string }
): Promise<string> {
	const at = p.at ?? new Date();
	await broker.call(
		"inbox.enqueue",
		{
			accountId: p.accountId,
			dms: [
				{
					eventId: p.eventId,
					createdAt: at.toISOString(),
					senderId: p.customerId,
					recipientId: p.accountTwitterUserId ?? "account",
					text: p.text,
					mediaUrl: null,
					customerId: p.customerId,
					outbound: false,
					profile: null,
				},
			],
			reads: [],
		},
		{ meta: { merchantId: p.merchantId } }
	);
	const id = uuidFromName(`x-dm:${p.accountId}:${p.eventId}`);
	await waitUntil(() => dmApplied(p.accountId, p.eventId), 10_000, `message ${p.eventId} applied`);
	return id;
}

/**
 * X's DM `eventId` is applied to the end: stored, and its queue row gone (deleted by the writer
 * after the batch's figures were written and its events emitted).
 */
export async function dmApplied(accountId: string, eventId: string): Promise<boolean> {
	return (
		Boolean(await MessageModel.exists({ _id: uuidFromName(`x-dm:${accountId}:${eventId}`) })) &&
		!(await InboxActivityModel.exists({ _id: `dm:${accountId}:${eventId}` }))
	);
}

/** The account has `count` messages and nothing left in its queue: every batch applied to the end. */
export async function accountApplied(accountId: string, count: number): Promise<boolean> {
	return (await MessageModel.countDocuments({ accountId })) === count && (await InboxActivityModel.countDocuments({ accountId })) === 0;
}
