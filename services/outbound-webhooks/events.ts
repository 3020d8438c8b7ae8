import { eventId } from "../../mixins/live-events.mixin.ts";

// The public events a subscription may ask for, and the broker events they come from (the
// same ones the SSE stream relays, plus a few it does not show).

export const PUBLIC_EVENTS = [
	"message.received",
	"message.sent",
	"conversation.created",
	"conversation.assigned",
	"conversation.closed",
	"conversation.escalated",
	"contact.created",
	"contact.opted_out",
	"contact.erased",
	"campaign.started",
	"campaign.progress",
	"campaign.completed",
	"flow.run.completed",
] as const;
export type PublicEvent = (typeof PUBLIC_EVENTS)[number];

/** Broker event → public name. */
export const SOURCE_EVENTS: Record<string, PublicEvent> = {
	"message.received": "message.received",
	"message.sent": "message.sent",
	"conversation.created": "conversation.created",
	"conversation.assigned": "conversation.assigned",
	"conversation.closed": "conversation.closed",
	"conversation.escalated": "conversation.escalated",
	"contact.created": "contact.created",
	"contact.optedOut": "contact.opted_out",
	"contact.erased": "contact.erased",
	"campaign.started": "campaign.started",
	"campaign.progress": "campaign.progress",
	"campaign.completed": "campaign.completed",
	"flow.run.completed": "flow.run.completed",
};

export interface OutboundEvent {
	id: string;
	type: string;
	createdAt: string;
	merchantId: string;
	data: Record<string, unknown>;
}

/**
 * The events that must arrive in order share a key: a conversation's, else a campaign's (started,
 * progress, completed), else a contact's. Null: no order to keep.
 */
export function orderKeyOf(data: Record<string, unknown>): string | null {
	for (const field of ["conversationId", "campaignId", "contactId"]) {
		if (typeof data[field] === "string" && data[field]) return `${field.slice(0, -2)}:${data[field]}`;
	}
	return null;
}

/**
 * The event a broker event becomes. Its id hashes the broker event's name and payload (the id
 * the SSE stream shows too), so an event emitted twice is one event; the merchant is outside
 * `data` because it is in the envelope.
 */
export function outboundEvent(source: string, type: string, params: Record<string, unknown>, at: Date): OutboundEvent {
	const { merchantId, ...data } = params;
	return { id: `evt_${eventId(source, params)}`, type, createdAt: at.toISOString(), merchantId: String(merchantId), data };
}
