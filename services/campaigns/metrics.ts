// The contract's campaign figures, from counts of delivery rows. `totalSent` is what X answered
// (delivered + failed), as the contract's own example adds up (1180 + 20 = 1200).

export interface DeliveryCounts {
	pending: number;
	sending: number;
	sent: number;
	failed: number;
	skipped: number;
	unknown: number;
	expired: number;
	cancelled: number;
	opened: number;
	clicked: number;
	replied: number;
}

export const EMPTY_COUNTS: DeliveryCounts = {
	pending: 0,
	sending: 0,
	sent: 0,
	failed: 0,
	skipped: 0,
	unknown: 0,
	expired: 0,
	cancelled: 0,
	opened: 0,
	clicked: 0,
	replied: 0,
};

/** A percentage with one decimal; 0 when there is nothing to divide by. */
export function percent(part: number, whole: number): number {
	if (!whole) return 0;
	return Math.round((part / whole) * 1000) / 10;
}

/** GET /campaigns/:id `metrics` (the contract's six counts). */
export function campaignCounts(c: DeliveryCounts) {
	return { totalSent: c.sent + c.failed, delivered: c.sent, opened: c.opened, clicked: c.clicked, replied: c.replied, failed: c.failed };
}

/** GET /campaigns/:id/metrics: the counts with their rates, and where the rest went. */
export function campaignMetrics(c: DeliveryCounts) {
	const totalSent = c.sent + c.failed;
	return {
		totalSent,
		delivered: c.sent,
		deliveryRate: percent(c.sent, totalSent),
		opened: c.opened,
		openRate: percent(c.opened, c.sent),
		clicked: c.clicked,
		clickRate: percent(c.clicked, c.opened),
		replied: c.replied,
		replyRate: percent(c.replied, c.opened),
		failed: c.failed,
		failureRate: percent(c.failed, totalSent),
		skipped: c.skipped,
		expired: c.expired,
		unknown: c.unknown,
		cancelled: c.cancelled,
		pending: c.pending + c.sending,
	};
}

/** Where the recipients are: every row is in exactly one of these. */
export function progressOf(c: DeliveryCounts) {
	return {
		total: c.pending + c.sending + c.sent + c.failed + c.skipped + c.unknown + c.expired + c.cancelled,
		sent: c.sent,
		failed: c.failed,
		skipped: c.skipped,
		pending: c.pending + c.sending,
		unknown: c.unknown,
		expired: c.expired,
		cancelled: c.cancelled,
	};
}

export type CampaignProgress = ReturnType<typeof progressOf>;
