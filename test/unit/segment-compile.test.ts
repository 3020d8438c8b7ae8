import { compileConditions, conditionProblems, operatorsOf, segmentQuery, SEGMENT_OPERATORS } from "../../services/segments/compile.ts";
import { ValidationFailedError } from "../../lib/errors.ts";

const now = new Date("2026-01-20T12:00:00.000Z");
const daysAgo = (n: number) => new Date(now.getTime() - n * 86_400_000);
const one = (field: string, operator: string, value?: unknown) => compileConditions([{ field, operator, value }], "all", now);
const problemsOf = (conditions: unknown, match: unknown = "all") => {
	try {
		compileConditions(conditions, match as "all", now);
	} catch (err) {
		expect(err).toBeInstanceOf(ValidationFailedError);
		return (err as ValidationFailedError).data as { field: string; message: string }[];
	}
	throw new Error("expected a ValidationFailedError");
};

describe("segment compilation: operator table", () => {
	test.each<[string, string, unknown, Record<string, unknown>]>([
		["tags", "contains", "vip", { tags: "vip" }],
		["tags", "not_contains", "vip", { tags: { $ne: "vip" } }],
		["tags", "in", ["vip", "gold"], { tags: { $in: ["vip", "gold"] } }],
		["tags", "not_in", ["spam"], { tags: { $nin: ["spam"] } }],
		["tags", "exists", undefined, { "tags.0": { $exists: true } }],
		["tags", "not_exists", null, { "tags.0": { $exists: false } }],
		["username", "eq", "john", { username: "john" }],
		["username", "ne", "john", { username: { $ne: "john" } }],
		["username", "contains", "a.b(", { username: { $regex: "a\\.b\\(", $options: "i" } }],
		["username", "not_contains", "x*", { username: { $not: /x\*/i } }],
		["displayName", "starts_with", "Jo", { displayName: { $regex: "^Jo", $options: "i" } }],
		["displayName", "in", ["A", "B"], { displayName: { $in: ["A", "B"] } }],
		["displayName", "exists", undefined, { displayName: { $nin: [null, ""] } }],
		["displayName", "not_exists", undefined, { displayName: { $in: [null, ""] } }],
		["accountId", "eq", "acc-1", { accountId: "acc-1" }],
		["accountId", "not_in", ["a", "b"], { accountId: { $nin: ["a", "b"] } }],
		["source", "eq", "manual", { source: "manual" }],
		["source", "in", ["import", "campaign"], { source: { $in: ["import", "campaign"] } }],
		["conversationCount", "gt", 2, { conversationCount: { $gt: 2 } }],
		["conversationCount", "gte", 2, { conversationCount: { $gte: 2 } }],
		["conversationCount", "lt", 2, { conversationCount: { $lt: 2 } }],
		["conversationCount", "lte", 0, { conversationCount: { $lte: 0 } }],
		["conversationCount", "eq", 3, { conversationCount: 3 }],
		["conversationCount", "in", [1, 2], { conversationCount: { $in: [1, 2] } }],
		["firstInteractionAt", "gte", "2026-01-01", { firstInteractionAt: { $gte: new Date("2026-01-01") } }],
		["lastInteractionAt", "lt", "2026-01-01T10:00:00Z", { lastInteractionAt: { $lt: new Date("2026-01-01T10:00:00Z") } }],
		["lastInteractionAt", "within_last_days", 7, { lastInteractionAt: { $gte: daysAgo(7), $lte: now } }],
		["lastInteractionAt", "more_than_days_ago", 30, { lastInteractionAt: { $lt: daysAgo(30) } }],
		["lastInteractionAt", "exists", undefined, { lastInteractionAt: { $ne: null } }],
		["firstInteractionAt", "not_exists", undefined, { firstInteractionAt: null }],
		["optedOut", "eq", true, { optedOut: true }],
		["optedOut", "ne", true, { optedOut: { $ne: true } }],
		["attributes.purchaseCount", "gte", 5, { "attributes.purchaseCount": { $gte: 5 } }],
		["attributes.tier", "eq", "gold", { "attributes.tier": "gold" }],
		["attributes.tier", "ne", "gold", { "attributes.tier": { $ne: "gold" } }],
		["attributes.member", "eq", false, { "attributes.member": false }],
		["attributes.tier", "in", ["gold", 1, true], { "attributes.tier": { $in: ["gold", 1, true] } }],
		["attributes.note", "contains", "(vip)", { "attributes.note": { $regex: "\\(vip\\)", $options: "i" } }],
		["attributes.code", "starts_with", "$", { "attributes.code": { $regex: "^\\$", $options: "i" } }],
		["attributes.tier", "exists", undefined, { "attributes.tier": { $ne: null } }],
		["attributes.tier", "not_exists", undefined, { "attributes.tier": null }],
		[
			"attributes.lastPurchaseDate",
			"within_last_days",
			10,
			{ "attributes.lastPurchaseDate": { $gte: "2026-01-10", $lte: now.toISOString(), $regex: "^\\d{4}-\\d{2}-\\d{2}" } },
		],
		[
			"attributes.lastPurchaseDate",
			"more_than_days_ago",
			10,
			{ "attributes.lastPurchaseDate": { $lt: "2026-01-10", $regex: "^\\d{4}-\\d{2}-\\d{2}" } },
		],
	])("%s %s %j", (field, operator, value, expected) => {
		expect(one(field, operator, value)).toEqual({ $and: [expected] });
	});

	test("match all is $and, match any is $or; an empty list matches everyone", () => {
		const list = [
			{ field: "attributes.purchaseCount", operator: "gte", value: 5 },
			{ field: "tags", operator: "contains", value: "vip" },
		];
		expect(compileConditions(list, "all", now)).toEqual({ $and: [{ "attributes.purchaseCount": { $gte: 5 } }, { tags: "vip" }] });
		expect(compileConditions(list, "any", now)).toEqual({ $or: [{ "attributes.purchaseCount": { $gte: 5 } }, { tags: "vip" }] });
		expect(compileConditions([], "any", now)).toEqual({});
	});

	test("the merchant is always part of a segment's query and cannot be overridden", () => {
		const q = segmentQuery("m1", { conditions: [{ field: "accountId", operator: "eq", value: "a" }] }, now);
		expect(q).toEqual({ $and: [{ accountId: "a" }], merchantId: "m1" });
	});

	test("every field allows only the operators that fit it", () => {
		expect(operatorsOf("optedOut")).toEqual(["eq", "ne"]);
		expect(operatorsOf("tags")).not.toContain("gt");
		expect(operatorsOf("attributes.x")).toEqual(SEGMENT_OPERATORS);
		expect(operatorsOf("attributes.a.b")).toEqual([]);
		expect(operatorsOf("merchantId")).toEqual([]);
	});
});

describe("segment compilation: refusals name the condition", () => {
	test("an unknown field, a wrong operator and a wrong value are each named by index", () => {
		const problems = problemsOf([
			{ field: "tags", operator: "contains", value: "vip" },
			{ field: "merchantId", operator: "eq", value: "other" },
			{ field: "optedOut", operator: "gt", value: true },
			{ field: "conversationCount", operator: "gte", value: "5" },
		]);
		expect(problems.map(p => p.field)).toEqual(["conditions[1].field", "conditions[2].operator", "conditions[3].value"]);
		expect(problems[1].message).toBe("for optedOut must be one of: eq, ne");
	});

	test.each<[string, unknown]>([
		["tags", { $where: "sleep(1000)" }],
		["username", { $gt: "" }],
		["username", { $regex: ".*" }],
		["attributes.tier", { $ne: null }],
		["conversationCount", { $gte: 0 }],
		["accountId", ["a", ["b"]]],
	])("an object value on %s is refused, never passed through: %j", (field, value) => {
		const operator = Array.isArray(value) ? "in" : field === "tags" ? "contains" : "eq";
		expect(problemsOf([{ field, operator, value }])).toEqual([{ field: "conditions[0].value", message: expect.any(String) }]);
	});

	test("operator-looking strings are literal values", () => {
		expect(one("username", "eq", "$where")).toEqual({ $and: [{ username: "$where" }] });
		expect(one("username", "contains", "$gt")).toEqual({ $and: [{ username: { $regex: "\\$gt", $options: "i" } }] });
	});

	test.each(["$where", "attributes.$gt", "attributes.a.b", "attributes.", "attributes.__proto__", "__proto__", "constructor", "tags.0"])(
		"field %j is refused",
		field => {
			expect(problemsOf([{ field, operator: "eq", value: "x" }])).toEqual([{ field: "conditions[0].field", message: expect.any(String) }]);
		}
	);

	test("a condition that is not an object, or extra keys, or a bad match are refused", () => {
		expect(problemsOf(["tags"])).toEqual([{ field: "conditions[0]", message: expect.any(String) }]);
		expect(problemsOf({ $where: "1" })).toEqual([{ field: "conditions", message: "must be a list of conditions" }]);
		expect(problemsOf([], "some")).toEqual([{ field: "match", message: "must be one of: all, any" }]);
	});

	test.each<[string, string, unknown]>([
		["lastInteractionAt", "gte", "yesterday"],
		["lastInteractionAt", "gte", "2026-13-45"],
		["lastInteractionAt", "within_last_days", -1],
		["lastInteractionAt", "within_last_days", "7"],
		["source", "eq", "twitter"],
		["optedOut", "eq", "true"],
		["tags", "in", []],
		["tags", "contains", " "],
		["username", "contains", ""],
		["attributes.x", "gt", true],
		["attributes.x", "exists", "yes"],
		["conversationCount", "eq", Number.NaN],
	])("%s %s %j is a wrong value", (field, operator, value) => {
		expect(problemsOf([{ field, operator, value }])).toEqual([{ field: "conditions[0].value", message: expect.any(String) }]);
	});

	test("conditionProblems reports without throwing, under a caller's prefix (flows)", () => {
		expect(conditionProblems([{ field: "x", operator: "eq", value: 1 }], "all", "nodes[2].conditions")).toEqual([
			{ field: "nodes[2].conditions[0].field", message: expect.any(String) },
		]);
		expect(conditionProblems([{ field: "tags", operator: "contains", value: "vip" }])).toEqual([]);
	});
});
