import { Type } from "@sinclair/typebox";
import { WEEKDAYS } from "../../models/account.model.ts";
import type { ErrorDetail } from "../../lib/errors.ts";

const HHMM = Type.String({ pattern: "^([01]\\d|2[0-3]):[0-5]\\d$", description: "24-hour time, HH:MM" });
const DayHours = Type.Object({ start: HHMM, end: HHMM }, { additionalProperties: false });

export const BusinessHoursSchema = Type.Object(
	{
		enabled: Type.Boolean(),
		timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: "IANA timezone, e.g. Asia/Ho_Chi_Minh" })),
		schedule: Type.Optional(
			Type.Object(Object.fromEntries(WEEKDAYS.map(d => [d, Type.Optional(DayHours)])), { additionalProperties: false })
		),
	},
	{ additionalProperties: false }
);

export function isTimezone(tz: string): boolean {
	try {
		new Intl.DateTimeFormat("en-US", { timeZone: tz });
		return true;
	} catch {
		return false;
	}
}

/** What JSON Schema cannot say: a real IANA zone, and each day's start before its end. */
export function businessHoursProblems(hours: {
	timezone?: string;
	schedule?: Record<string, { start: string; end: string } | undefined>;
}): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	if (hours.timezone !== undefined && !isTimezone(hours.timezone)) {
		problems.push({ field: "businessHours.timezone", message: "must be an IANA timezone such as Asia/Ho_Chi_Minh" });
	}
	for (const [day, span] of Object.entries(hours.schedule ?? {})) {
		if (span && span.start >= span.end) problems.push({ field: `businessHours.schedule.${day}`, message: "start must be before end" });
	}
	return problems;
}

/** Is `at` inside the schedule, read in the schedule's timezone? Days without hours are closed. */
export function isWithinBusinessHours(
	hours: { enabled?: boolean; timezone?: string; schedule?: Record<string, { start?: string; end?: string } | undefined> | null },
	at: Date
): boolean {
	if (!hours.enabled) return false;
	const parts = new Intl.DateTimeFormat("en-US", {
		timeZone: hours.timezone || "Asia/Ho_Chi_Minh",
		weekday: "long",
		hour: "2-digit",
		minute: "2-digit",
		hourCycle: "h23",
	}).formatToParts(at);
	const get = (type: string) => parts.find(p => p.type === type)?.value ?? "";
	const day = get("weekday").toLowerCase();
	const time = `${get("hour")}:${get("minute")}`;
	const span = hours.schedule?.[day];
	return Boolean(span?.start && span?.end && time >= span.start && time < span.end);
}
