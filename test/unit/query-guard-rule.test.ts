import {
	isPrefixRegex,
	keyPatternOf,
	shapeOf,
	verdict,
	type DeclaredIndex,
	type KeyPattern,
	type Query,
} from "../../lib/query-guard/rule.ts";
import { queriesOf } from "../../lib/query-guard/commands.ts";
import { checkCommand } from "../../lib/query-guard.ts";
import { ConfigError, loadConfig } from "../../lib/config.ts";

const idx = (name: string, key: KeyPattern): DeclaredIndex => ({ name, key });
const INDEXES = [
	idx("_id_", [["_id", 1]]),
	idx("merchant_status_created", [
		["merchantId", 1],
		["status", 1],
		["createdAt", -1],
	]),
	idx("merchant_lastAt", [
		["merchantId", 1],
		["lastAt", -1],
	]),
	idx("email", [["email", 1]]),
	idx("at", [["at", 1]]),
];

const served = (q: Partial<Query> & { filter: Record<string, unknown> }) => verdict({ limited: false, ...q }, INDEXES).served;

describe("the rule: a filter is served when an index's leading field is bounded", () => {
	test("equality, $in and ranges on the leading field are served", () => {
		expect(served({ filter: { _id: "a" } })).toBe(true);
		expect(served({ filter: { merchantId: "m" } })).toBe(true);
		expect(served({ filter: { merchantId: { $in: ["m", "n"] }, anything: { $ne: 1 } } })).toBe(true);
		expect(served({ filter: { at: { $gte: new Date(0), $lt: new Date() } } })).toBe(true);
		expect(served({ filter: { email: { $eq: null } } })).toBe(true);
	});

	test("a field that is not first in any index, or an empty filter, is not served", () => {
		expect(served({ filter: { status: "open" } })).toBe(false);
		expect(served({ filter: { createdAt: { $gt: new Date() } } })).toBe(false);
		expect(served({ filter: {} })).toBe(false);
		expect(verdict({ filter: {}, limited: false }, INDEXES)).toEqual({ served: false, why: "empty filter: reads the whole collection" });
	});

	test("negations, $exists, $not and unanchored regexes bound nothing", () => {
		for (const pred of [
			{ $ne: "m" },
			{ $nin: ["m"] },
			{ $not: { $eq: "m" } },
			{ $exists: false },
			{ $exists: true },
			/m/,
			{ $regex: "m" },
			{ $type: "string" },
		]) {
			expect(served({ filter: { merchantId: pred } })).toBe(false);
		}
	});

	test("a prefix-anchored, case-sensitive regex is a range; a case-insensitive one is not", () => {
		expect(isPrefixRegex("^abc")).toBe(true);
		expect(isPrefixRegex("^\\.abc")).toBe(true);
		expect(isPrefixRegex("^abc", "i")).toBe(false);
		expect(isPrefixRegex("^.*abc")).toBe(false);
		expect(isPrefixRegex("abc")).toBe(false);
		expect(served({ filter: { email: /^ann/ } })).toBe(true);
		expect(served({ filter: { email: { $regex: "^ann", $options: "" } } })).toBe(true);
		expect(served({ filter: { email: { $regex: "^ann", $options: "i" } } })).toBe(false);
	});

	test("$and parts are combined; every $or branch must be served on its own", () => {
		expect(served({ filter: { $and: [{ status: "open" }, { merchantId: "m" }] } })).toBe(true);
		expect(served({ filter: { $or: [{ _id: "a" }, { email: "e" }] } })).toBe(true);
		expect(served({ filter: { $or: [{ _id: "a" }, { status: "open" }] } })).toBe(false);
		// the outer predicates join each branch (MongoDB's contained $or)
		expect(served({ filter: { status: "a", $or: [{ merchantId: "m" }, { _id: "x" }] } })).toBe(true);
		expect(served({ filter: { status: "a", $or: [{ merchantId: "m" }, { lastAt: null }] } })).toBe(false);
		// a served outer part needs no help from the $or
		expect(served({ filter: { email: "e", $or: [{ status: "a" }, { color: "red" }] } })).toBe(true);
		expect(served({ filter: { $nor: [{ merchantId: "m" }] } })).toBe(false);
	});
});

describe("the rule: with a limit, the sort must come from the index (equality, sort, range)", () => {
	test("a sort on the keys after the equality prefix is served, in either direction", () => {
		expect(served({ filter: { merchantId: "m", status: "open" }, sort: [["createdAt", -1]], limited: true })).toBe(true);
		expect(served({ filter: { merchantId: "m", status: "open" }, sort: [["createdAt", 1]], limited: true })).toBe(true);
		expect(served({ filter: { merchantId: "m" }, sort: [["lastAt", -1]], limited: true })).toBe(true);
		expect(
			served({
				filter: { merchantId: "m" },
				sort: [
					["status", 1],
					["createdAt", -1],
				],
				limited: true,
			})
		).toBe(true);
		// a sort on a field pinned by equality is free
		expect(
			served({
				filter: { merchantId: "m", status: "open" },
				sort: [
					["status", 1],
					["createdAt", -1],
				],
				limited: true,
			})
		).toBe(true);
	});

	test("a sort after a range, on an unindexed field or with mixed directions is an in-memory sort", () => {
		const rangeFirst = verdict(
			{ filter: { merchantId: "m", status: { $in: ["a"] }, createdAt: { $gt: new Date() } }, sort: [["createdAt", -1]], limited: true },
			INDEXES
		);
		expect(rangeFirst.served).toBe(true); // the range is on the sort key itself
		expect(served({ filter: { merchantId: { $gt: "m" } }, sort: [["lastAt", -1]], limited: true })).toBe(false);
		expect(served({ filter: { merchantId: "m" }, sort: [["name", 1]], limited: true })).toBe(false);
		expect(
			served({
				filter: { merchantId: "m" },
				sort: [
					["status", 1],
					["createdAt", 1],
				],
				limited: true,
			})
		).toBe(false);
		expect(
			served({
				filter: { merchantId: "m" },
				sort: [
					["lastAt", -1],
					["_id", -1],
				],
				limited: true,
			})
		).toBe(false);
		const v = verdict({ filter: { merchantId: "m" }, sort: [["name", 1]], limited: true }, INDEXES);
		expect(v).toEqual({ served: false, why: expect.stringContaining("in-memory sort") });
	});

	test("without a limit the sort is not checked; an empty filter with a sort and a limit reads the index in order", () => {
		expect(served({ filter: { merchantId: "m" }, sort: [["name", 1]] })).toBe(true);
		expect(served({ filter: {}, sort: [["at", -1]], limited: true })).toBe(true);
		expect(served({ filter: {}, sort: [["name", 1]], limited: true })).toBe(false);
	});
});

describe("the commands the guard reads", () => {
	test("find, findAndModify, update, delete, count, distinct and aggregate give their filters, sorts and limits", () => {
		expect(queriesOf("find", { find: "c", filter: { a: 1 }, sort: { b: -1 }, limit: 1 })).toEqual([
			{ op: "find", collection: "c", filter: { a: 1 }, sort: [["b", -1]], limited: true },
		]);
		expect(queriesOf("findAndModify", { findAndModify: "c", query: { a: 1 } })[0]).toMatchObject({ op: "findAndModify", limited: true });
		expect(
			queriesOf("update", {
				update: "c",
				updates: [
					{ q: { a: 1 }, u: {}, multi: true },
					{ q: { b: 1 }, u: {} },
				],
			}).map(u => [u.op, u.limited])
		).toEqual([
			["updateMany", false],
			["updateOne", true],
		]);
		expect(queriesOf("delete", { delete: "c", deletes: [{ q: {}, limit: 0 }] })[0]).toMatchObject({ op: "deleteMany", filter: {} });
		expect(queriesOf("count", { count: "c" })[0].skip).toBe(true);
		expect(queriesOf("distinct", { distinct: "c", key: "k", query: { a: 1 } })[0]).toMatchObject({ op: "distinct", filter: { a: 1 } });
		expect(
			queriesOf("aggregate", { aggregate: "c", pipeline: [{ $match: { a: 1 } }, { $sort: { b: 1 } }, { $limit: 5 }] })[0]
		).toMatchObject({
			filter: { a: 1 },
			sort: [["b", 1]],
			limited: true,
		});
		expect(queriesOf("aggregate", { aggregate: "c", pipeline: [{ $group: { _id: "$a" } }] })[0].unfiltered).toMatch(/\$group/);
		expect(queriesOf("aggregate", { aggregate: 1, pipeline: [] })).toEqual([]);
		expect(queriesOf("insert", { insert: "c", documents: [] })).toEqual([]);
	});

	test("a $lookup needs an index on the foreign field of the other collection", () => {
		const uses = queriesOf("aggregate", {
			aggregate: "c",
			pipeline: [{ $match: { a: 1 } }, { $lookup: { from: "d", localField: "x", foreignField: "y", as: "z" } }],
		});
		expect(uses[1]).toMatchObject({ op: "aggregate $lookup", collection: "d", filter: { y: "<each>" } });
	});

	test("the shape of a filter keeps its fields and operators, not its values", () => {
		expect(shapeOf({ a: "x", b: { $in: [1, 2] }, c: new Date(), d: /^x/, e: null })).toEqual({
			a: "<string>",
			b: { $in: ["<number>"] },
			c: "<date>",
			d: "<regex>",
			e: null,
		});
		expect(keyPatternOf({ a: "desc", b: 1, s: { $meta: "textScore" } })).toEqual([
			["a", -1],
			["b", 1],
		]);
	});

	test("a distinct of a field that leads an index needs no filter; of another field it reads everything", () => {
		const indexes = new Map([
			[
				"c",
				[
					idx("_id_", [["_id", 1]]),
					idx("m", [
						["merchantId", 1],
						["at", 1],
					]),
				],
			],
		]);
		expect(checkCommand("distinct", { distinct: "c", key: "merchantId", query: {} }, indexes)).toEqual([]);
		expect(checkCommand("distinct", { distinct: "c", key: "at", query: {} }, indexes)[0].why).toMatch(/empty filter/);
	});

	test("a collection with no model nor library indexes is a violation; Agenda's lock query is served by its own index", () => {
		const none = checkCommand("find", { find: "nobody_declared_this", filter: { _id: "x" } }, new Map());
		expect(none[0].why).toMatch(/no model/);
		const agenda = new Map([
			[
				"agenda_jobs",
				[
					idx("lock", [
						["name", 1],
						["nextRunAt", 1],
						["priority", -1],
						["lockedAt", 1],
						["disabled", 1],
					]),
				],
			],
		]);
		const lock = {
			findAndModify: "agenda_jobs",
			query: {
				name: "job",
				disabled: { $ne: true },
				$or: [{ lockedAt: { $eq: null }, nextRunAt: { $lte: new Date() } }, { lockedAt: { $lte: new Date() } }],
			},
			sort: { nextRunAt: 1, priority: -1 },
		};
		expect(checkCommand("findAndModify", lock, agenda)).toEqual([]);
	});
});

describe("QUERY_GUARD", () => {
	test("is off unless set, and only off, warn or strict", () => {
		expect(loadConfig({}).queryGuard).toEqual({ mode: "off", logFile: null });
		expect(loadConfig({ QUERY_GUARD: "strict", QUERY_GUARD_LOG: "/tmp/q.jsonl" }).queryGuard).toEqual({
			mode: "strict",
			logFile: "/tmp/q.jsonl",
		});
		expect(() => loadConfig({ QUERY_GUARD: "loud" })).toThrow(ConfigError);
	});
});
