import { averageSeconds, formatDuration, growth, percent, round1 } from "../../services/analytics/format.ts";

describe("growth against the previous period", () => {
	test.each([
		[145, 129, 12.4],
		[112, 100, 12],
		[98, 100, -2],
		[979, 1000, -2.1],
		[0, 50, -100],
		[300, 100, 200],
		[1, 3, -66.7],
		[2, 3, -33.3],
	])("%d now against %d before is %d%%", (now, before, expected) => {
		expect(growth(now, before)).toBe(expected);
	});

	test("is null when the previous period had none (nothing to grow from)", () => {
		expect(growth(10, 0)).toBeNull();
		expect(growth(0, 0)).toBeNull();
	});

	test("rounds halves away from zero, to one decimal", () => {
		expect(round1(2.25)).toBe(2.3);
		expect(round1(-2.25)).toBe(-2.3);
		expect(round1(12.549)).toBe(12.5);
	});
});

describe("rates", () => {
	test("are percent with one decimal, 0 when the divisor is 0", () => {
		expect(percent(1180, 1200)).toBe(98.3);
		expect(percent(850, 1180)).toBe(72);
		expect(percent(3, 0)).toBe(0);
	});
});

describe("durations", () => {
	test.each([
		[0, "0s"],
		[45, "45s"],
		[225, "3m 45s"],
		[180, "3m 0s"],
		[3605, "1h 0m 5s"],
		[183_600, "2d 3h 0m 0s"],
		[44.6, "45s"],
	])("%d seconds reads %s", (seconds, text) => {
		expect(formatDuration(seconds)).toBe(text);
	});

	test("no responses means no average", () => {
		expect(averageSeconds(0, 0)).toBeNull();
		expect(formatDuration(null)).toBeNull();
		expect(averageSeconds(451, 2)).toBe(226);
	});
});
