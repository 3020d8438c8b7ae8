import { uuidFromName } from "../../lib/ids.ts";
import { OutboundDeliveryModel } from "../../models/outbound-delivery.model.ts";
import { WebhookSubscriptionModel } from "../../models/webhook-subscription.model.ts";
import { clock } from "./clock.ts";
import { orderKeyOf, type OutboundEvent } from "./events.ts";

// What an event handler does, and all it does: one delivery row per subscription that wants
// the event, inserted before anything is sent. The inbox and campaigns never wait on a receiver.

let lastSeq = 0;

/** Order of receipt on this node: microseconds of the wall clock, never twice the same. */
export function nextSeq(): number {
	lastSeq = Math.max(lastSeq + 1, Date.now() * 1000);
	return lastSeq;
}

export const deliveryIdOf = (subscriptionId: string, eventId: string) => uuidFromName(`outbound:${subscriptionId}:${eventId}`);

export interface ReceivedEvent {
	event: OutboundEvent;
	seq: number;
}

/**
 * Stores events for each active subscription of their merchant that wants their type, in the
 * order given (ordered inserts): a worker that sees a conversation's later event has already
 * been able to see its earlier one. Returns how many rows are new.
 */
export async function storeEvents(received: ReceivedEvent[]): Promise<number> {
	const merchants = [...new Set(received.map(r => r.event.merchantId))];
	const active = await WebhookSubscriptionModel.find(
		{ merchantId: { $in: merchants }, status: "active" },
		{ _id: 1, merchantId: 1, events: 1 }
	).lean();
	if (!active.length) return 0;
	const now = clock.now();
	const rows = received.flatMap(({ event, seq }) => {
		const subs = active.filter(s => s.merchantId === event.merchantId && (s.events ?? []).includes(event.type));
		if (!subs.length) return [];
		const body = JSON.stringify(event);
		const orderKey = orderKeyOf(event.data);
		return subs.map(s => ({
			_id: deliveryIdOf(String(s._id), event.id),
			merchantId: event.merchantId,
			subscriptionId: String(s._id),
			eventId: event.id,
			type: event.type,
			body,
			orderKey,
			seq,
			status: "pending",
			nextAttemptAt: now,
			createdAt: now,
		}));
	});
	let stored = 0;
	for (let from = 0; from < rows.length;) {
		try {
			stored += (await OutboundDeliveryModel.insertMany(rows.slice(from), { ordered: true })).length;
			break;
		} catch (err) {
			// A re-emitted event stops an ordered insert at its row: count what went in, skip it, go on.
			const e = err as {
				code?: number;
				insertedDocs?: unknown[];
				writeErrors?: { index: number; code?: number; err?: { index?: number; code?: number } }[];
			};
			const first = e.writeErrors?.[0];
			const code = first ? (first.code ?? first.err?.code) : e.code;
			const index = first ? (first.index ?? first.err?.index) : rows.length - from === 1 ? 0 : undefined;
			if (code !== 11000 || index === undefined) throw err;
			stored += index;
			from += index + 1;
		}
	}
	return stored;
}
