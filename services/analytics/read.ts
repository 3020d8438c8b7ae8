import { AnalyticsDayModel } from "../../models/analytics-day.model.ts";
import { AnalyticsDayTotalModel } from "../../models/analytics-day-total.model.ts";
import { DAY_MS, QUARTER_MS, utcDayOf } from "./buckets.ts";
import type { DayCell, DayQuarters, DayTotals } from "./cells.ts";
import { dayIndexOf, type Period } from "./period.ts";

// Reading the day rows back: sums over any UTC range from the totals rows (whole days from their
// totals, the days the range's ends cut through from their quarters), and per-local-day series
// and breakdowns over a period from the detail rows.

export interface Scope {
	merchantId: string;
	accountId?: string;
}

/** A totals row: every type of one account and UTC day (`quarters` is parsed when needed). */
export interface TotalRow {
	accountId: string;
	day: number;
	t: DayTotals;
	quarters: string;
}

export interface DetailRow {
	accountId: string;
	type: string;
	day: number;
	n: number;
	s: number;
	cells: DayCell[];
}

export interface Sum {
	n: number;
	s: number;
}

const scoped = (scope: Scope, filter: Record<string, unknown>) => ({
	merchantId: scope.merchantId,
	...(scope.accountId ? { accountId: scope.accountId } : {}),
	...filter,
});

/** The totals rows of every UTC day up to `toDay`: one query. */
export async function readTotals(scope: Scope, toDay: number): Promise<TotalRow[]> {
	const rows = await AnalyticsDayTotalModel.find(scoped(scope, { day: { $lte: toDay } }), {
		_id: 0,
		accountId: 1,
		day: 1,
		totals: 1,
		quarters: 1,
	}).lean<{ accountId: string; day: number; totals: string; quarters: string }[]>();
	return rows.map(r => ({ accountId: r.accountId, day: r.day, t: JSON.parse(r.totals) as DayTotals, quarters: r.quarters }));
}

/** Day rows at quarter detail of `types` for UTC days fromDay..toDay. */
export function readDetails(scope: Scope, types: string[], fromDay: number, toDay: number): Promise<DetailRow[]> {
	return AnalyticsDayModel.find(scoped(scope, { type: { $in: types }, day: { $gte: fromDay, $lte: toDay } }), {
		_id: 0,
		accountId: 1,
		type: 1,
		day: 1,
		n: 1,
		s: 1,
		cells: 1,
	}).lean<DetailRow[]>();
}

/** The total of `type` over [from, to) (from may be -Infinity): whole days from totals, cut days from their quarters. */
export function sumRange(totals: TotalRow[], type: string, from: number, to: number): Sum {
	const sum = { n: 0, s: 0 };
	for (const row of totals) {
		const t = row.t?.[type];
		if (!t) continue;
		const start = row.day * DAY_MS;
		const end = start + DAY_MS;
		if (end <= from || start >= to) continue;
		if (start >= from && end <= to) {
			sum.n += t.n;
			sum.s += t.s;
			continue;
		}
		const qt = (JSON.parse(row.quarters) as DayQuarters)[type] ?? [];
		for (let i = 0; i + 2 < qt.length; i += 3) {
			const at = start + qt[i] * QUARTER_MS;
			if (at >= from && at < to) {
				sum.n += qt[i + 1];
				sum.s += qt[i + 2];
			}
		}
	}
	return sum;
}

/** Per local day of the period: count and sum of `type`'s cells of key `key` ("" = total). */
export function dailySeries(rows: DetailRow[], period: Period, type: string, key = ""): Sum[] {
	const out = period.days.map(() => ({ n: 0, s: 0 }));
	for (const r of rows) {
		if (r.type !== type) continue;
		const start = r.day * DAY_MS;
		for (const c of r.cells) {
			if (c.k !== key) continue;
			const i = dayIndexOf(period, start + c.q * QUARTER_MS);
			if (i >= 0) {
				out[i].n += c.n;
				out[i].s += c.s;
			}
		}
	}
	return out;
}

/** Over the period: count and sum of `type` per breakdown key starting with `prefix` (prefix removed). */
export function breakdown(rows: DetailRow[], period: Period, type: string, prefix: string): Map<string, Sum> {
	const out = new Map<string, Sum>();
	for (const r of rows) {
		if (r.type !== type) continue;
		const start = r.day * DAY_MS;
		for (const c of r.cells) {
			if (!c.k.startsWith(prefix) || dayIndexOf(period, start + c.q * QUARTER_MS) < 0) continue;
			const k = c.k.slice(prefix.length);
			const sum = out.get(k) ?? { n: 0, s: 0 };
			sum.n += c.n;
			sum.s += c.s;
			out.set(k, sum);
		}
	}
	return out;
}

/** Over the period: the total of `type` per account. */
export function byAccount(rows: DetailRow[], period: Period, type: string): Map<string, Sum> {
	const out = new Map<string, Sum>();
	for (const r of rows) {
		if (r.type !== type) continue;
		const start = r.day * DAY_MS;
		for (const c of r.cells) {
			if (c.k !== "" || dayIndexOf(period, start + c.q * QUARTER_MS) < 0) continue;
			const sum = out.get(r.accountId) ?? { n: 0, s: 0 };
			sum.n += c.n;
			sum.s += c.s;
			out.set(r.accountId, sum);
		}
	}
	return out;
}

/** The UTC days a period's rows live on. */
export const utcDaysOf = (period: Period) => ({
	from: utcDayOf(period.bounds[0]),
	to: utcDayOf(period.bounds[period.bounds.length - 1] - 1),
});
