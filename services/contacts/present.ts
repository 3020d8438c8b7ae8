import type { Contact } from "../../models/contact.model.ts";

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

/** A contact in a list, with the contract's fields (plus the opt-out flag a dashboard needs). */
export function presentContact(c: Contact) {
	return {
		id: c._id,
		accountId: c.accountId,
		twitterUserId: c.twitterUserId,
		username: c.username ?? "",
		displayName: c.displayName ?? "",
		profileImageUrl: c.profileImageUrl ?? null,
		tags: c.tags ?? [],
		attributes: (c.attributes as Record<string, unknown> | null) ?? {},
		conversationCount: c.conversationCount ?? 0,
		firstInteractionAt: iso(c.firstInteractionAt),
		lastInteractionAt: iso(c.lastInteractionAt),
		optedOut: c.optedOut ?? false,
	};
}

export interface Engagement {
	messagesSent: number;
	messagesReceived: number;
	averageResponseTime: string | null;
	averageResponseTimeSeconds: number | null;
}

/** One contact with its source, consent and engagement. */
export function presentContactDetail(c: Contact, engagement: Engagement) {
	return {
		...presentContact(c),
		source: c.source ?? "inbound_message",
		optedOutAt: iso(c.optedOutAt),
		optedIn: c.optedIn ?? false,
		lastInboundAt: iso(c.lastInboundAt),
		createdAt: iso((c as { createdAt?: Date }).createdAt),
		engagement,
	};
}

/** Seconds as the contract writes them: 330 → "5m 30s", 3605 → "1h 5s", 0 → "0s". */
export function formatDuration(totalSeconds: number): string {
	let s = Math.max(0, Math.round(totalSeconds));
	const units: [string, number][] = [
		["d", 86_400],
		["h", 3600],
		["m", 60],
		["s", 1],
	];
	const parts: string[] = [];
	for (const [unit, size] of units) {
		const n = Math.floor(s / size);
		s -= n * size;
		if (n > 0) parts.push(`${n}${unit}`);
	}
	return parts.length ? parts.join(" ") : "0s";
}

/** Average response time from the contact's running totals (kept by the inbox). */
export function averageResponse(totalSeconds: number | null | undefined, count: number | null | undefined) {
	if (!count || count <= 0 || !totalSeconds || totalSeconds < 0) {
		return count && count > 0
			? { averageResponseTime: "0s", averageResponseTimeSeconds: 0 }
			: { averageResponseTime: null, averageResponseTimeSeconds: null };
	}
	const seconds = Math.round(totalSeconds / count);
	return { averageResponseTime: formatDuration(seconds), averageResponseTimeSeconds: seconds };
}
