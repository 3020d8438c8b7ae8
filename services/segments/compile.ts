import { ValidationFailedError, type ErrorDetail } from "../../lib/errors.ts";
import { escapeRegex } from "../../lib/regex.ts";
import { CONTACT_SOURCES } from "../../models/contact.model.ts";
import { attributeKeyProblem } from "../contacts/attributes.ts";

// The segment condition language, compiled to a contact query from whitelisted parts only.
// A field name selects a known path (or `attributes.<key>` with a checked key), an operator
// selects one of the fixed shapes below, and a value must be a scalar (or a flat list of them)
// of the field's type: no part of a condition is ever passed through as a query object.
// Campaigns and flows import this module; docs/segments.md describes the language.

export const SEGMENT_OPERATORS = [
	"eq",
	"ne",
	"gt",
	"gte",
	"lt",
	"lte",
	"contains",
	"not_contains",
	"in",
	"not_in",
	"exists",
	"not_exists",
	"starts_with",
	"within_last_days",
	"more_than_days_ago",
] as const;
export type SegmentOperator = (typeof SEGMENT_OPERATORS)[number];
export type SegmentMatch = "all" | "any";

export interface SegmentCondition {
	field: string;
	operator: string;
	value?: unknown;
}

type Kind = "tags" | "text" | "id" | "source" | "number" | "date" | "boolean" | "attribute";

const OPERATORS_OF: Record<Kind, readonly SegmentOperator[]> = {
	tags: ["contains", "not_contains", "in", "not_in", "exists", "not_exists"],
	text: ["eq", "ne", "contains", "not_contains", "starts_with", "in", "not_in", "exists", "not_exists"],
	id: ["eq", "ne", "in", "not_in"],
	source: ["eq", "ne", "in", "not_in"],
	number: ["eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in"],
	date: ["gt", "gte", "lt", "lte", "within_last_days", "more_than_days_ago", "exists", "not_exists"],
	boolean: ["eq", "ne"],
	attribute: SEGMENT_OPERATORS,
};

/** The contact fields a condition may name, with the database path and type of each. */
export const SEGMENT_FIELDS: Record<string, Kind> = {
	tags: "tags",
	username: "text",
	displayName: "text",
	accountId: "id",
	source: "source",
	conversationCount: "number",
	firstInteractionAt: "date",
	lastInteractionAt: "date",
	optedOut: "boolean",
};

export const MAX_CONDITIONS = 50;
const MAX_LIST = 100;
const MAX_TEXT = 1000;
const MAX_DAYS = 36_500;
const DAY_MS = 86_400_000;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
/** Attributes hold dates as ISO strings; only strings that look like one take part in date operators. */
const DATE_PREFIX = "^\\d{4}-\\d{2}-\\d{2}";

type Scalar = string | number | boolean | Date;
type Checked = { path: string; kind: Kind; operator: SegmentOperator; value: Scalar | Scalar[] | null };

/** The allowed operators of a field (for error messages and a dashboard's pickers). */
export function operatorsOf(field: string): readonly SegmentOperator[] {
	const kind = kindOf(field);
	return kind ? OPERATORS_OF[kind] : [];
}

function kindOf(field: string): Kind | null {
	if (Object.hasOwn(SEGMENT_FIELDS, field)) return SEGMENT_FIELDS[field];
	if (field.startsWith("attributes.") && attributeKeyProblem(field.slice("attributes.".length)) === null) return "attribute";
	return null;
}

const isIsoDate = (v: unknown): v is string => typeof v === "string" && ISO_DATE.test(v) && !Number.isNaN(Date.parse(v));

/** Checks one scalar against the field's type; returns the query value or a problem. */
function scalar(kind: Kind, operator: SegmentOperator, v: unknown): { value: Scalar } | { problem: string } {
	const ordering = operator === "gt" || operator === "gte" || operator === "lt" || operator === "lte";
	const textual = operator === "contains" || operator === "not_contains" || operator === "starts_with";
	switch (kind) {
		case "tags":
			return typeof v === "string" && v.trim().length > 0 && v.length <= 100
				? { value: v.trim() }
				: { problem: "must be a tag (a non-empty string)" };
		case "text":
		case "id":
			if (typeof v !== "string") return { problem: "must be a string" };
			if (v.length > MAX_TEXT) return { problem: `must be at most ${MAX_TEXT} characters` };
			if (textual && v.length === 0) return { problem: "must not be empty" };
			return { value: v };
		case "source":
			return typeof v === "string" && (CONTACT_SOURCES as readonly string[]).includes(v)
				? { value: v }
				: { problem: `must be one of: ${CONTACT_SOURCES.join(", ")}` };
		case "number":
			return typeof v === "number" && Number.isFinite(v) ? { value: v } : { problem: "must be a number" };
		case "boolean":
			return typeof v === "boolean" ? { value: v } : { problem: "must be true or false" };
		case "date":
			return isIsoDate(v) ? { value: new Date(v) } : { problem: "must be an ISO date (2026-01-15 or 2026-01-15T10:00:00Z)" };
		case "attribute":
			if (textual) {
				if (typeof v !== "string" || v.length === 0 || v.length > MAX_TEXT)
					return { problem: `must be a non-empty string of at most ${MAX_TEXT} characters` };
				return { value: v };
			}
			if (typeof v === "string") return v.length <= MAX_TEXT ? { value: v } : { problem: `must be at most ${MAX_TEXT} characters` };
			if (typeof v === "number" && Number.isFinite(v)) return { value: v };
			if (typeof v === "boolean" && !ordering) return { value: v };
			return { problem: ordering ? "must be a number or a string" : "must be a string, number or boolean" };
	}
}

function checkValue(kind: Kind, operator: SegmentOperator, v: unknown): { value: Scalar | Scalar[] | null } | { problem: string } {
	switch (operator) {
		case "exists":
		case "not_exists":
			return v === undefined || v === null ? { value: null } : { problem: `must be left out for ${operator}` };
		case "within_last_days":
		case "more_than_days_ago":
			return typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_DAYS
				? { value: v }
				: { problem: `must be a number of days from 0 to ${MAX_DAYS}` };
		case "in":
		case "not_in": {
			if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LIST) return { problem: `must be a list of 1 to ${MAX_LIST} values` };
			const values: Scalar[] = [];
			for (const item of v) {
				const one = scalar(kind, "eq", item);
				if ("problem" in one) return { problem: `every item ${one.problem}` };
				values.push(one.value);
			}
			return { value: values };
		}
		default:
			return scalar(kind, operator, v);
	}
}

function checkAll(conditions: unknown, match: unknown, prefix: string): { problems: ErrorDetail[]; checked: Checked[] } {
	const problems: ErrorDetail[] = [];
	const checked: Checked[] = [];
	if (match !== "all" && match !== "any") problems.push({ field: "match", message: "must be one of: all, any" });
	if (!Array.isArray(conditions)) return { problems: [...problems, { field: prefix, message: "must be a list of conditions" }], checked };
	if (conditions.length > MAX_CONDITIONS) problems.push({ field: prefix, message: `must have at most ${MAX_CONDITIONS} items` });
	conditions.forEach((c, i) => {
		const one = checkCondition(c, `${prefix}[${i}]`, problems);
		if (!("problem" in one)) checked.push(one);
	});
	return { problems, checked };
}

/** Checks a condition list; every problem names its place (`conditions[2].operator`). */
export function conditionProblems(conditions: unknown, match: unknown = "all", prefix = "conditions"): ErrorDetail[] {
	return checkAll(conditions, match, prefix).problems;
}

function checkCondition(c: unknown, at: string, problems: ErrorDetail[]): Checked | { problem: true } {
	if (!c || typeof c !== "object" || Array.isArray(c)) {
		problems.push({ field: at, message: "must be an object {field, operator, value}" });
		return { problem: true };
	}
	const { field, operator, value } = c as Record<string, unknown>;
	const kind = typeof field === "string" ? kindOf(field) : null;
	if (!kind) {
		problems.push({
			field: `${at}.field`,
			message: `must be one of: ${Object.keys(SEGMENT_FIELDS).join(", ")}, attributes.<key> (key: letters, digits, _ or -)`,
		});
		return { problem: true };
	}
	if (typeof operator !== "string" || !(OPERATORS_OF[kind] as readonly string[]).includes(operator)) {
		problems.push({ field: `${at}.operator`, message: `for ${field} must be one of: ${OPERATORS_OF[kind].join(", ")}` });
		return { problem: true };
	}
	const checked = checkValue(kind, operator as SegmentOperator, value);
	if ("problem" in checked) {
		problems.push({ field: `${at}.value`, message: checked.problem });
		return { problem: true };
	}
	return { path: field as string, kind, operator: operator as SegmentOperator, value: checked.value };
}

const dayString = (d: Date) => d.toISOString().slice(0, 10);

/** One condition as a query clause. Every key below is written here; values are checked scalars. */
function clause({ path, kind, operator, value }: Checked, now: Date): Record<string, unknown> {
	const text = typeof value === "string" ? escapeRegex(value) : "";
	switch (operator) {
		case "eq":
			return { [path]: value };
		case "ne":
			return { [path]: { $ne: value } };
		case "gt":
			return { [path]: { $gt: value } };
		case "gte":
			return { [path]: { $gte: value } };
		case "lt":
			return { [path]: { $lt: value } };
		case "lte":
			return { [path]: { $lte: value } };
		case "in":
			return { [path]: { $in: value } };
		case "not_in":
			return { [path]: { $nin: value } };
		case "contains":
			// tags: has this tag; text: case-insensitive substring, the text taken literally
			return kind === "tags" ? { tags: value } : { [path]: { $regex: text, $options: "i" } };
		case "not_contains":
			return kind === "tags" ? { tags: { $ne: value } } : { [path]: { $not: new RegExp(text, "i") } };
		case "starts_with":
			return { [path]: { $regex: `^${text}`, $options: "i" } };
		case "exists":
			if (kind === "tags") return { "tags.0": { $exists: true } };
			if (kind === "text") return { [path]: { $nin: [null, ""] } };
			return { [path]: { $ne: null } };
		case "not_exists":
			if (kind === "tags") return { "tags.0": { $exists: false } };
			if (kind === "text") return { [path]: { $in: [null, ""] } };
			return { [path]: null };
		case "within_last_days": {
			const since = new Date(now.getTime() - (value as number) * DAY_MS);
			if (kind === "date") return { [path]: { $gte: since, $lte: now } };
			return { [path]: { $gte: dayString(since), $lte: now.toISOString(), $regex: DATE_PREFIX } };
		}
		case "more_than_days_ago": {
			const before = new Date(now.getTime() - (value as number) * DAY_MS);
			if (kind === "date") return { [path]: { $lt: before } };
			return { [path]: { $lt: dayString(before), $regex: DATE_PREFIX } };
		}
	}
}

export type ContactQuery = Record<string, unknown>;

/**
 * Conditions → a query on contacts (without the merchant: the caller adds `merchantId`).
 * Invalid conditions are a 422 naming each problem; `now` anchors the relative date operators
 * so callers (and tests) control time. An empty list matches every contact.
 */
export function compileConditions(
	conditions: unknown,
	match: SegmentMatch = "all",
	now: Date = new Date(),
	prefix = "conditions"
): ContactQuery {
	const { problems, checked } = checkAll(conditions, match, prefix);
	if (problems.length) throw new ValidationFailedError(problems);
	if (checked.length === 0) return {};
	const clauses = checked.map(c => clause(c, now));
	return match === "any" ? { $or: clauses } : { $and: clauses };
}

/** The contacts of one merchant matching a segment's conditions. */
export function segmentQuery(
	merchantId: string,
	segment: { conditions: unknown; match?: SegmentMatch | null },
	now: Date = new Date()
): ContactQuery {
	return { ...compileConditions(segment.conditions, segment.match ?? "all", now), merchantId };
}
