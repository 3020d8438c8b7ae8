import type { ErrorDetail } from "../../lib/errors.ts";

// Periods are local calendar days in an IANA time zone; storage is in UTC quarter hours
// (./buckets.ts). This module turns "2026-01-01..2026-01-18 in Asia/Ho_Chi_Minh" into the UTC
// instants where each of those local days starts, and the period before it of the same length.

export const DEFAULT_TIMEZONE = "Asia/Ho_Chi_Minh";
export const MAX_PERIOD_DAYS = 366;
const DAY_MS = 86_400_000;

export interface Period {
	startDate: string;
	endDate: string;
	timezone: string;
	/** The local dates of the period, in order (YYYY-MM-DD). */
	days: string[];
	/** UTC instants (ms) where each local day starts, plus the end of the last one: days.length + 1 entries. */
	bounds: number[];
}

/** Days since 1970-01-01 of a valid `YYYY-MM-DD` (a real calendar date), else null. */
export function dayNumber(date: string): number | null {
	const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
	if (!m) return null;
	const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
	const ms = Date.UTC(y, mo - 1, d);
	const back = new Date(ms);
	if (y < 1970 || back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) return null;
	return ms / DAY_MS;
}

export function dateOfDayNumber(day: number): string {
	return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
	let f = formatters.get(timeZone);
	if (!f) {
		f = new Intl.DateTimeFormat("en-US", {
			timeZone,
			hourCycle: "h23",
			year: "numeric",
			month: "2-digit",
			day: "2-digit",
			hour: "2-digit",
			minute: "2-digit",
			second: "2-digit",
		});
		formatters.set(timeZone, f);
	}
	return f;
}

export function isTimeZone(timeZone: string): boolean {
	try {
		formatter(timeZone);
		return true;
	} catch {
		return false;
	}
}

/** The zone's offset from UTC at `instant`, in ms (Asia/Ho_Chi_Minh: +25,200,000). */
export function offsetAt(timeZone: string, instant: number): number {
	const parts: Record<string, number> = {};
	for (const p of formatter(timeZone).formatToParts(new Date(instant))) if (p.type !== "literal") parts[p.type] = Number(p.value);
	const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
	return wall - Math.floor(instant / 1000) * 1000;
}

/**
 * The UTC instant at which local day `day` (days since 1970-01-01) begins in `timeZone`. Where
 * a DST change skips midnight the day begins at the first local time that exists.
 */
export function localDayStart(day: number, timeZone: string): number {
	const wallMidnight = day * DAY_MS;
	let guess = wallMidnight - offsetAt(timeZone, wallMidnight);
	const offset = offsetAt(timeZone, guess);
	if (wallMidnight - offset !== guess) {
		const second = wallMidnight - offset;
		// Either the other offset is right, or midnight does not exist (spring-forward at 00:00):
		// then the later of the two candidates is where the day begins.
		guess = offsetAt(timeZone, second) === offset ? second : Math.max(guess, second);
	}
	return guess;
}

/** The local date (YYYY-MM-DD) of `instant` in `timeZone`. */
export function localDateOf(instant: number, timeZone: string): string {
	return dateOfDayNumber(Math.floor((instant + offsetAt(timeZone, instant)) / DAY_MS));
}

function build(startDay: number, endDay: number, timeZone: string): Period {
	const days: string[] = [];
	const bounds: number[] = [];
	for (let d = startDay; d <= endDay; d++) {
		days.push(dateOfDayNumber(d));
		bounds.push(localDayStart(d, timeZone));
	}
	bounds.push(localDayStart(endDay + 1, timeZone));
	return { startDate: days[0], endDate: days[days.length - 1], timezone: timeZone, days, bounds };
}

/**
 * Checks the query's dates and zone and builds the period, or lists every problem by field
 * (both dates required as real `YYYY-MM-DD` dates, start not after end, at most 366 days).
 */
export function parsePeriod(input: {
	startDate: string;
	endDate: string;
	timezone?: string;
}): { period: Period } | { problems: ErrorDetail[] } {
	const problems: ErrorDetail[] = [];
	const timezone = input.timezone ?? DEFAULT_TIMEZONE;
	const start = dayNumber(input.startDate);
	const end = dayNumber(input.endDate);
	if (start === null) problems.push({ field: "startDate", message: "must be a date as YYYY-MM-DD" });
	if (end === null) problems.push({ field: "endDate", message: "must be a date as YYYY-MM-DD" });
	if (start !== null && end !== null) {
		if (start > end) problems.push({ field: "endDate", message: "must not be before startDate" });
		else if (end - start + 1 > MAX_PERIOD_DAYS)
			problems.push({ field: "endDate", message: `the period must be at most ${MAX_PERIOD_DAYS} days` });
	}
	if (!isTimeZone(timezone)) problems.push({ field: "timezone", message: "must be an IANA time zone such as Asia/Ho_Chi_Minh" });
	if (problems.length) return { problems };
	return { period: build(start!, end!, timezone) };
}

/** The period of the same number of days that ends the day before `period` starts. */
export function previousPeriod(period: Period): Period {
	const start = dayNumber(period.startDate)!;
	const length = period.days.length;
	return build(start - length, start - 1, period.timezone);
}

/** Index of the local day of `period` containing `instant`, or -1 outside the period. */
export function dayIndexOf(period: Period, instant: number): number {
	const b = period.bounds;
	if (instant < b[0] || instant >= b[b.length - 1]) return -1;
	let lo = 0;
	let hi = b.length - 2;
	while (lo < hi) {
		const mid = (lo + hi + 1) >> 1;
		if (b[mid] <= instant) lo = mid;
		else hi = mid - 1;
	}
	return lo;
}
