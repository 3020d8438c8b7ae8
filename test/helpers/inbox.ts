import type { ServiceBroker } from "moleculer";
import { MessageModel } from "../../models/message.model.ts";
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
	await waitUntil(
		async () => Boolean((await MessageModel.findById(id, { announcedAt: 1 }).lean())?.announcedAt),
		10_000,
		`message ${p.eventId} applied`
	);
	return id;
}
