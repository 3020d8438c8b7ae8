import {
	dayIndexOf,
	localDateOf,
	localDayStart,
	offsetAt,
	parsePeriod,
	previousPeriod,
	type Period,
} from "../../services/analytics/period.ts";
import { quarterOf, QUARTER_MS } from "../../services/analytics/buckets.ts";

const day = (date: string) => Date.parse(`${date}T00:00:00Z`) / 86_400_000;
const period = (startDate: string, endDate: string, timezone?: string): Period => {
	const parsed = parsePeriod({ startDate, endDate, timezone });
	if ("problems" in parsed) throw new Error(JSON.stringify(parsed.problems));
	return parsed.period;
};

describe("local days as UTC instants", () => {
	test("a day in Asia/Ho_Chi_Minh starts at 17:00 UTC the day before", () => {
		expect(new Date(localDayStart(day("2026-01-18"), "Asia/Ho_Chi_Minh")).toISOString()).toBe("2026-01-17T17:00:00.000Z");
	});

	test("a message at 23:30 UTC is on the next local day in Asia/Ho_Chi_Minh, the same day in UTC", () => {
		const at = Date.parse("2026-01-17T23:30:00Z");
		expect(localDateOf(at, "Asia/Ho_Chi_Minh")).toBe("2026-01-18");
		expect(localDateOf(at, "UTC")).toBe("2026-01-17");
	});

	test("zones with quarter-hour offsets start their days on a quarter-hour boundary", () => {
		const kathmandu = localDayStart(day("2026-03-01"), "Asia/Kathmandu");
		expect(new Date(kathmandu).toISOString()).toBe("2026-02-28T18:15:00.000Z");
		expect(kathmandu % QUARTER_MS).toBe(0);
		expect(new Date(localDayStart(day("2026-03-01"), "America/St_Johns")).toISOString()).toBe("2026-03-01T03:30:00.000Z");
	});

	test("daylight saving: New York's days are 23 and 25 hours long around its changes", () => {
		const p = period("2026-03-07", "2026-03-09", "America/New_York");
		const lengths = p.bounds.slice(1).map((b, i) => (b - p.bounds[i]) / 3_600_000);
		expect(lengths).toEqual([24, 23, 24]);
		const fall = period("2026-11-01", "2026-11-01", "America/New_York");
		expect((fall.bounds[1] - fall.bounds[0]) / 3_600_000).toBe(25);
	});

	test("where DST skips midnight, the day starts at the first local time that exists", () => {
		// Santiago moves from 00:00 to 01:00 on 2026-09-06.
		const start = localDayStart(day("2026-09-06"), "America/Santiago");
		expect(localDateOf(start, "America/Santiago")).toBe("2026-09-06");
		expect(localDateOf(start - 1, "America/Santiago")).toBe("2026-09-05");
	});

	test("offsetAt reads the zone's offset at an instant", () => {
		expect(offsetAt("Asia/Ho_Chi_Minh", Date.parse("2026-01-01T00:00:00Z"))).toBe(7 * 3_600_000);
		expect(offsetAt("America/New_York", Date.parse("2026-07-01T12:00:00Z"))).toBe(-4 * 3_600_000);
	});
});

describe("parsePeriod", () => {
	test("builds the local days and their boundaries, defaulting to Asia/Ho_Chi_Minh", () => {
		const p = period("2026-01-01", "2026-01-03");
		expect(p.timezone).toBe("Asia/Ho_Chi_Minh");
		expect(p.days).toEqual(["2026-01-01", "2026-01-02", "2026-01-03"]);
		expect(p.bounds.map(b => new Date(b).toISOString())).toEqual([
			"2025-12-31T17:00:00.000Z",
			"2026-01-01T17:00:00.000Z",
			"2026-01-02T17:00:00.000Z",
			"2026-01-03T17:00:00.000Z",
		]);
	});

	test.each([
		[{ startDate: "2026-1-01", endDate: "2026-01-02" }, [{ field: "startDate", message: "must be a date as YYYY-MM-DD" }]],
		[{ startDate: "2026-02-30", endDate: "2026-03-01" }, [{ field: "startDate", message: "must be a date as YYYY-MM-DD" }]],
		[{ startDate: "2026-01-02", endDate: "2026-01-01" }, [{ field: "endDate", message: "must not be before startDate" }]],
		[{ startDate: "2025-01-01", endDate: "2026-01-02" }, [{ field: "endDate", message: "the period must be at most 366 days" }]],
		[
			{ startDate: "2026-01-01", endDate: "2026-01-02", timezone: "Mars/Olympus" },
			[{ field: "timezone", message: "must be an IANA time zone such as Asia/Ho_Chi_Minh" }],
		],
	])("refuses %j naming the field", (input, problems) => {
		expect(parsePeriod(input)).toEqual({ problems });
	});

	test("366 days (a leap year) are allowed, 367 are not", () => {
		expect("period" in parsePeriod({ startDate: "2024-01-01", endDate: "2024-12-31" })).toBe(true);
		expect("problems" in parsePeriod({ startDate: "2024-01-01", endDate: "2025-01-01" })).toBe(true);
	});

	test("the previous period has the same number of days and ends the day before", () => {
		const prev = previousPeriod(period("2026-01-11", "2026-01-20"));
		expect([prev.startDate, prev.endDate, prev.days.length]).toEqual(["2026-01-01", "2026-01-10", 10]);
	});

	test("dayIndexOf finds the local day of an instant, -1 outside", () => {
		const p = period("2026-01-17", "2026-01-18");
		expect(dayIndexOf(p, Date.parse("2026-01-16T16:59:59Z"))).toBe(-1);
		expect(dayIndexOf(p, Date.parse("2026-01-16T17:00:00Z"))).toBe(0);
		expect(dayIndexOf(p, Date.parse("2026-01-17T23:30:00Z"))).toBe(1);
		expect(dayIndexOf(p, Date.parse("2026-01-18T17:00:00Z"))).toBe(-1);
	});
});

test("quarters are 15-minute UTC buckets numbered from the epoch", () => {
	expect(quarterOf(new Date("1970-01-01T00:14:59Z"))).toBe(0);
	expect(quarterOf(new Date("1970-01-01T00:15:00Z"))).toBe(1);
	expect(quarterOf(new Date("1970-01-02T00:00:00Z"))).toBe(96);
});
