import { uuidFromName } from "../../lib/ids.ts";

// Counters are kept per UTC quarter hour: every zone's offset today is a whole number of quarter
// hours (+07:00, +05:30, +05:45, -03:30), so any local day is a whole run of quarters and a
// period read in any zone sums whole buckets. A quarter is numbered from the epoch; its UTC day
// is quarter / 96 and its place in that day quarter % 96.

export const QUARTER_MS = 15 * 60_000;
export const QUARTERS_PER_DAY = 96;
export const DAY_MS = 86_400_000;

export const quarterOf = (at: Date | number): number => Math.floor((typeof at === "number" ? at : at.getTime()) / QUARTER_MS);
export const dayOfQuarter = (quarter: number): number => Math.floor(quarter / QUARTERS_PER_DAY);
export const quarterInDay = (quarter: number): number => quarter - dayOfQuarter(quarter) * QUARTERS_PER_DAY;
export const quarterStart = (quarter: number): number => quarter * QUARTER_MS;
/** The UTC day (days since the epoch) of an instant. */
export const utcDayOf = (instant: number): number => Math.floor(instant / DAY_MS);

/** Row ids are derived from what the row counts, so writing a row is a lookup by `_id`. */
export function quarterRowId(merchantId: string, accountId: string, type: string, quarter: number): string {
	return uuidFromName(JSON.stringify(["analytics-quarter", merchantId, accountId, type, quarter]));
}

export function dayRowId(merchantId: string, accountId: string, type: string, day: number): string {
	return uuidFromName(JSON.stringify(["analytics-day", merchantId, accountId, type, day]));
}

export function dayTotalsRowId(merchantId: string, accountId: string, day: number): string {
	return uuidFromName(JSON.stringify(["analytics-day-totals", merchantId, accountId, day]));
}
