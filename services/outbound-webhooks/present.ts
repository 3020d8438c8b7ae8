import type { OutboundDelivery } from "../../models/outbound-delivery.model.ts";
import type { WebhookSubscription } from "../../models/webhook-subscription.model.ts";

// What the API shows. Never a secret: those are shown once, by create and rotate-secret.

const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : null);

export function presentSubscription(s: WebhookSubscription) {
	return {
		id: s._id,
		merchantId: s.merchantId,
		url: s.url,
		events: s.events ?? [],
		description: s.description ?? null,
		status: s.status,
		disabledAt: iso(s.disabledAt),
		disabledReason: s.disabledReason ?? null,
		failingSince: iso(s.failingSince),
		previousSecretExpiresAt: s.previousSecret && s.previousSecretExpiresAt ? iso(s.previousSecretExpiresAt) : null,
		createdAt: iso(s.createdAt),
		updatedAt: iso(s.updatedAt),
	};
}

export function presentDelivery(d: OutboundDelivery & { _id: string }) {
	return {
		id: d._id,
		subscriptionId: d.subscriptionId,
		eventId: d.eventId,
		type: d.type,
		status: d.status,
		attempts: d.attempts,
		lastStatusCode: d.lastStatusCode ?? null,
		lastLatencyMs: d.lastLatencyMs ?? null,
		lastError: d.lastError ?? null,
		lastAttemptAt: iso(d.lastAttemptAt),
		nextAttemptAt: iso(d.nextAttemptAt),
		deliveredAt: iso(d.deliveredAt),
		createdAt: iso(d.createdAt),
		payload: JSON.parse(d.body) as unknown,
	};
}
