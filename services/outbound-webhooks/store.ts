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

/** Stores the event for each of the merchant's active subscriptions to its type; returns how many rows are new. */
export async function storeEvent(event: OutboundEvent, seq: number): Promise<number> {
	const active = await WebhookSubscriptionModel.find({ merchantId: event.merchantId, status: "active" }, { _id: 1, events: 1 }).lean();
	const subs = active.filter(s => (s.events ?? []).includes(event.type));
	if (!subs.length) return 0;
	const body = JSON.stringify(event);
	const now = clock.now();
	const orderKey = orderKeyOf(event.data);
	const rows = subs.map(s => ({
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
	try {
		const inserted = await OutboundDeliveryModel.insertMany(rows, { ordered: false });
		return inserted.length;
	} catch (err) {
		// A re-emitted event: the rows already there stay as they are, the others went in.
		const e = err as { code?: number; insertedDocs?: unknown[]; writeErrors?: { code?: number; err?: { code?: number } }[] };
		const codes = (e.writeErrors ?? []).map(w => w.code ?? w.err?.code);
		if (e.code === 11000 || (codes.length && codes.every(c => c === 11000))) return e.insertedDocs?.length ?? 0;
		throw err;
	}
}
