import { estimateFinish, type QuotaRule } from "../../services/campaigns/pacing.ts";

// The finish estimate of preview-launch: a simulation of the campaign's sends under rolling
// send limits, with what each rule has already used.

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = new Date("2026-01-25T09:00:00Z");
const at = (ms: number) => new Date(T0.getTime() + ms);

const rule = (name: string, limit: number, windowMs: number, over: Partial<QuotaRule> = {}): QuotaRule => ({
	name,
	scope: "account",
	limit,
	windowMs,
	used: 0,
	resetAt: null,
	...over,
});
/** The defaults of the X channel for one account. */
const accountRules = (over: Partial<Record<string, Partial<QuotaRule>>> = {}) => [
	rule("account_daily", 500, 24 * HOUR, over.account_daily),
	rule("x_user_15min", 15, 15 * MIN, over.x_user_15min),
	rule("x_user_daily", 1440, 24 * HOUR, over.x_user_daily),
	rule("x_app_daily", 1152, 24 * HOUR, { scope: "app", ...over.x_app_daily }),
	rule("merchant_share_daily", 720, 24 * HOUR, { scope: "merchant", ...over.merchant_share_daily }),
];

describe("when a campaign will be done", () => {
	test("within the first 15 sends it is done at once", () => {
		const e = estimateFinish({ start: T0, accounts: [{ accountId: "a", recipients: 15, rules: accountRules() }] });
		expect(e.finishAt).toEqual(T0);
		expect(e).toMatchObject({ recipients: 15, sendable: 15, expiring: 0 });
	});

	test("15 per 15 minutes: 100 recipients need six more windows", () => {
		const e = estimateFinish({ start: T0, accounts: [{ accountId: "a", recipients: 100, rules: accountRules() }] });
		expect(e.finishAt).toEqual(at(6 * 15 * MIN));
	});

	test("more than a day's 500 spill to the next day: the 501st goes 24 hours after the first", () => {
		const e = estimateFinish({ start: T0, accounts: [{ accountId: "a", recipients: 501, rules: accountRules() }] });
		expect(e.finishAt).toEqual(at(24 * HOUR));
	});

	test("quota already used today delays the start until it frees up", () => {
		const rules = accountRules({ account_daily: { used: 500, resetAt: at(5 * HOUR) } });
		const e = estimateFinish({ start: T0, accounts: [{ accountId: "a", recipients: 1, rules }] });
		expect(e.finishAt).toEqual(at(5 * HOUR));
	});

	test("what cannot go before endAt is expected to expire", () => {
		const e = estimateFinish({ start: T0, endAt: at(10 * HOUR), accounts: [{ accountId: "a", recipients: 800, rules: accountRules() }] });
		expect(e.sendable).toBe(500);
		expect(e.expiring).toBe(300);
		expect(e.finishAt!.getTime()).toBeLessThan(at(10 * HOUR).getTime());
	});

	test("two accounts send side by side, but share the merchant's daily share", () => {
		const shared = (accountId: string) => ({ accountId, recipients: 400, rules: accountRules() });
		const e = estimateFinish({ start: T0, accounts: [shared("a"), shared("b")] });
		// 800 recipients, 720 a day for the merchant: the last 80 wait for the next day.
		expect(e.finishAt!.getTime()).toBeGreaterThanOrEqual(at(24 * HOUR).getTime());
		expect(e.accounts.map(a => a.sendable)).toEqual([400, 400]);
	});

	test("a limit of zero means never: no finish time without an end, everything expiring with one", () => {
		const rules = accountRules({ account_daily: { limit: 0 } });
		expect(estimateFinish({ start: T0, accounts: [{ accountId: "a", recipients: 3, rules }] }).finishAt).toBeNull();
		expect(estimateFinish({ start: T0, endAt: at(HOUR), accounts: [{ accountId: "a", recipients: 3, rules }] })).toMatchObject({
			sendable: 0,
			expiring: 3,
		});
	});

	test("no recipients: done at the start", () => {
		expect(estimateFinish({ start: T0, accounts: [] }).finishAt).toEqual(T0);
	});
});
