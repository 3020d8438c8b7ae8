import {
	EMPTY_COUNTS,
	campaignCounts,
	campaignMetrics,
	percent,
	progressOf,
	type DeliveryCounts,
} from "../../services/campaigns/metrics.ts";

// The contract's campaign figures come from counts of delivery rows; these check the rates
// against the contract's own example (GET /campaigns/{id}/metrics).

const counts = (over: Partial<DeliveryCounts>): DeliveryCounts => ({ ...EMPTY_COUNTS, ...over });

describe("campaign rates", () => {
	test("the contract's example: 1180 delivered and 20 failed of 1200 give 98.3 / 72.0 / 37.6 / 5.3 / 1.7", () => {
		const m = campaignMetrics(counts({ sent: 1180, failed: 20, opened: 850, clicked: 320, replied: 45 }));
		expect(m).toMatchObject({
			totalSent: 1200,
			delivered: 1180,
			deliveryRate: 98.3,
			opened: 850,
			openRate: 72.0,
			clicked: 320,
			clickRate: 37.6,
			replied: 45,
			replyRate: 5.3,
			failed: 20,
			failureRate: 1.7,
		});
	});

	test("each rate has its own divisor: open over delivered, click and reply over opened, failure over sent", () => {
		const m = campaignMetrics(counts({ sent: 8, failed: 2, opened: 4, clicked: 1, replied: 3 }));
		expect(m.deliveryRate).toBe(80);
		expect(m.openRate).toBe(50);
		expect(m.clickRate).toBe(25);
		expect(m.replyRate).toBe(75);
		expect(m.failureRate).toBe(20);
	});

	test("a rate with nothing to divide by is 0, not NaN", () => {
		const m = campaignMetrics(EMPTY_COUNTS);
		expect([m.deliveryRate, m.openRate, m.clickRate, m.replyRate, m.failureRate]).toEqual([0, 0, 0, 0, 0]);
		expect(campaignMetrics(counts({ failed: 3 }))).toMatchObject({ totalSent: 3, deliveryRate: 0, failureRate: 100, openRate: 0 });
	});

	test("percentages keep one decimal, rounded half up", () => {
		expect(percent(1, 3)).toBe(33.3);
		expect(percent(2, 3)).toBe(66.7);
		expect(percent(1, 8)).toBe(12.5);
		expect(percent(7, 7)).toBe(100);
	});

	test("skipped, expired, unknown and cancelled recipients are reported but are not sends", () => {
		const m = campaignMetrics(counts({ sent: 5, skipped: 4, expired: 3, unknown: 2, cancelled: 1, pending: 6, sending: 1 }));
		expect(m).toMatchObject({ totalSent: 5, deliveryRate: 100, skipped: 4, expired: 3, unknown: 2, cancelled: 1, pending: 7 });
	});
});

describe("campaign counts and progress", () => {
	test("GET /campaigns/:id shows the contract's six counts", () => {
		expect(campaignCounts(counts({ sent: 10, failed: 1, opened: 6, clicked: 2, replied: 1 }))).toEqual({
			totalSent: 11,
			delivered: 10,
			opened: 6,
			clicked: 2,
			replied: 1,
			failed: 1,
		});
	});

	test("every recipient is in exactly one bucket of the progress, in-flight sends count as pending", () => {
		const p = progressOf(counts({ pending: 3, sending: 2, sent: 10, failed: 1, skipped: 4, unknown: 1, expired: 2, cancelled: 0 }));
		expect(p).toEqual({ total: 23, sent: 10, failed: 1, skipped: 4, pending: 5, unknown: 1, expired: 2, cancelled: 0 });
		expect(p.sent + p.failed + p.skipped + p.pending + p.unknown + p.expired + p.cancelled).toBe(p.total);
	});
});
