import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";

useFreshDatabase("segments");

const M1 = "merchant-segments-1";
const M2 = "merchant-segments-2";
const ACC1 = randomUUID();
const ACC2 = randomUUID();
const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY);
const isoDay = (d: Date) => d.toISOString().slice(0, 10);

let node: TestNode;
let api: ReturnType<typeof client>;
let other: ReturnType<typeof client>;
const inUse = new Set<string>();
const ids: Record<string, string> = {};

beforeAll(async () => {
	node = await startNode({ services: ["api", "segments"], overrides: { api: { settings: { rateLimitPerMinute: 10_000 } } } });
	node.broker.createService({
		name: "campaigns",
		actions: {
			segmentInUse: {
				visibility: "public",
				handler: (ctx: { params: { segmentId: string } }) =>
					inUse.has(ctx.params.segmentId) ? { inUse: true, usedBy: [{ kind: "campaign", id: "c-9" }] } : { inUse: false },
			},
		},
	});
	await node.broker.waitForServices(["campaigns"]);
	api = client(node.url, tokenFor(M1));
	other = client(node.url, tokenFor(M2));

	const seed = (key: string, merchantId: string, fields: Record<string, unknown>) =>
		ContactModel.create({
			merchantId,
			accountId: ACC1,
			twitterUserId: `tw-${key}`,
			username: key,
			displayName: key.toUpperCase(),
			...fields,
		}).then(c => {
			ids[key] = c._id as string;
		});
	await seed("vip_big", M1, {
		tags: ["vip", "customer"],
		attributes: { purchaseCount: 7, lastPurchaseDate: isoDay(ago(3)) },
		conversationCount: 4,
		lastInteractionAt: ago(1),
		firstInteractionAt: ago(100),
	});
	await seed("vip_small", M1, {
		tags: ["vip"],
		attributes: { purchaseCount: 2, lastPurchaseDate: isoDay(ago(40)) },
		conversationCount: 1,
		lastInteractionAt: ago(2),
		source: "manual",
	});
	await seed("big_no_vip", M1, {
		tags: ["customer"],
		attributes: { purchaseCount: 9, tier: "gold" },
		conversationCount: 0,
		lastInteractionAt: ago(60),
		accountId: ACC2,
	});
	await seed("quiet", M1, { tags: [], attributes: { purchaseCount: "5" }, lastInteractionAt: null, optedOut: true, displayName: "" });
	await seed("a.b(", M1, { tags: ["vip"], attributes: { purchaseCount: 5 }, lastInteractionAt: ago(5) });
	// another merchant's VIP big spender never shows up
	await seed("other_vip", M2, { tags: ["vip"], attributes: { purchaseCount: 50 }, lastInteractionAt: ago(1) });
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const vip = {
	name: "Khách Hàng VIP",
	conditions: [
		{ field: "attributes.purchaseCount", operator: "gte", value: 5 },
		{ field: "tags", operator: "contains", value: "vip" },
	],
};

async function preview(conditions: unknown[], match?: string) {
	const res = await api.post("/segments/evaluate", match ? { conditions, match } : { conditions });
	expect(res.status).toBe(200);
	return (res.body.data.sampleContacts as { username: string }[]).map(c => c.username).sort();
}

describe("segments CRUD and evaluate", () => {
	test("the contract's VIP segment is created and evaluates to its contacts, with a sample", async () => {
		const created = await api.post("/segments", vip);
		expect(created.status).toBe(200);
		expect(created.body.data).toMatchObject({
			id: expect.any(String),
			merchantId: M1,
			name: "Khách Hàng VIP",
			match: "all",
			conditions: vip.conditions,
		});
		const res = await api.post(`/segments/${created.body.data.id}/evaluate`);
		expect(res.status).toBe(200);
		expect(res.body.data).toEqual({
			segmentId: created.body.data.id,
			contactCount: 2,
			sampleContacts: [
				{ id: ids.vip_big, username: "vip_big", displayName: "VIP_BIG" },
				{ id: ids["a.b("], username: "a.b(", displayName: "A.B(" },
			],
		});
	});

	test("match any combines the conditions with or", async () => {
		expect(await preview(vip.conditions, "any")).toEqual(["a.b(", "big_no_vip", "vip_big", "vip_small"]);
	});

	test("the sample holds at most 10 contacts while the count covers all", async () => {
		await ContactModel.insertMany(
			Array.from({ length: 15 }, (_, i) => ({
				merchantId: M1,
				accountId: ACC1,
				twitterUserId: `bulk-${i}`,
				username: `bulk${i}`,
				tags: ["bulk"],
			}))
		);
		const res = await api.post("/segments/evaluate", { conditions: [{ field: "tags", operator: "contains", value: "bulk" }] });
		expect(res.body.data.contactCount).toBe(15);
		expect(res.body.data.sampleContacts).toHaveLength(10);
		expect(res.body.data.segmentId).toBeNull();
		await ContactModel.deleteMany({ tags: "bulk" });
	});

	test("list, get, update (checked again) and delete", async () => {
		const s = (await api.post("/segments", { name: "to edit", conditions: [] })).body.data;
		expect((await api.get("/segments?search=TO%20EDIT")).body.data.map((x: { id: string }) => x.id)).toEqual([s.id]);
		expect((await api.get(`/segments/${s.id}`)).body.data.name).toBe("to edit");
		const bad = await api.put(`/segments/${s.id}`, { conditions: [{ field: "optedOut", operator: "gt", value: 1 }] });
		expect(bad.status).toBe(422);
		expect(bad.body.details).toEqual([{ field: "conditions[0].operator", message: "for optedOut must be one of: eq, ne" }]);
		const ok = await api.put(`/segments/${s.id}`, { match: "any", conditions: [{ field: "optedOut", operator: "eq", value: true }] });
		expect(ok.body.data).toMatchObject({ match: "any", conditions: [{ field: "optedOut", operator: "eq", value: true }] });
		expect((await api.post(`/segments/${s.id}/evaluate`)).body.data.contactCount).toBe(1);
		inUse.add(s.id);
		const busy = await api.del(`/segments/${s.id}`);
		expect(busy.status).toBe(409);
		expect(busy.body.errorCode).toBe("SEGMENT_IN_USE");
		inUse.delete(s.id);
		expect((await api.del(`/segments/${s.id}`)).body.data).toEqual({ id: s.id, deleted: true });
		expect((await api.get(`/segments/${s.id}`)).status).toBe(404);
	});

	test("an empty condition list is every contact of the merchant", async () => {
		const res = await api.post("/segments/evaluate", { conditions: [] });
		expect(res.body.data.contactCount).toBe(5);
	});
});

describe("operators against the database", () => {
	test.each<[string, unknown[], string[]]>([
		["tags not_contains", [{ field: "tags", operator: "not_contains", value: "vip" }], ["big_no_vip", "quiet"]],
		["tags in", [{ field: "tags", operator: "in", value: ["customer", "nope"] }], ["big_no_vip", "vip_big"]],
		["tags not_exists", [{ field: "tags", operator: "not_exists" }], ["quiet"]],
		["username contains, literally", [{ field: "username", operator: "contains", value: "a.b(" }], ["a.b("]],
		["username starts_with, any case", [{ field: "username", operator: "starts_with", value: "VIP_" }], ["vip_big", "vip_small"]],
		["displayName not_exists (empty)", [{ field: "displayName", operator: "not_exists" }], ["quiet"]],
		["accountId eq", [{ field: "accountId", operator: "eq", value: ACC2 }], ["big_no_vip"]],
		["source eq", [{ field: "source", operator: "eq", value: "manual" }], ["vip_small"]],
		["conversationCount gt", [{ field: "conversationCount", operator: "gt", value: 0 }], ["vip_big", "vip_small"]],
		[
			"lastInteractionAt within_last_days",
			[{ field: "lastInteractionAt", operator: "within_last_days", value: 3 }],
			["vip_big", "vip_small"],
		],
		["lastInteractionAt more_than_days_ago", [{ field: "lastInteractionAt", operator: "more_than_days_ago", value: 30 }], ["big_no_vip"]],
		["lastInteractionAt not_exists", [{ field: "lastInteractionAt", operator: "not_exists" }], ["quiet"]],
		["firstInteractionAt lt a date", [{ field: "firstInteractionAt", operator: "lt", value: isoDay(ago(50)) }], ["vip_big"]],
		["optedOut eq true", [{ field: "optedOut", operator: "eq", value: true }], ["quiet"]],
		[
			"attributes numbers and strings are not mixed",
			[{ field: "attributes.purchaseCount", operator: "gte", value: 5 }],
			["a.b(", "big_no_vip", "vip_big"],
		],
		["attributes string eq", [{ field: "attributes.purchaseCount", operator: "eq", value: "5" }], ["quiet"]],
		["attributes exists", [{ field: "attributes.tier", operator: "exists" }], ["big_no_vip"]],
		["attributes date within_last_days", [{ field: "attributes.lastPurchaseDate", operator: "within_last_days", value: 7 }], ["vip_big"]],
		[
			"attributes date more_than_days_ago",
			[{ field: "attributes.lastPurchaseDate", operator: "more_than_days_ago", value: 30 }],
			["vip_small"],
		],
		["operator-looking text is a literal value", [{ field: "username", operator: "eq", value: "$where" }], []],
	])("%s", async (_label, conditions, expected) => {
		expect(await preview(conditions)).toEqual(expected.sort());
	});
});

describe("refusals", () => {
	test("a wrong field, operator or value is a 422 naming the condition by index", async () => {
		const res = await api.post("/segments", {
			name: "bad",
			conditions: [
				{ field: "tags", operator: "contains", value: "vip" },
				{ field: "password", operator: "eq", value: "x" },
				{ field: "tags", operator: "gte", value: "vip" },
				{ field: "conversationCount", operator: "gt", value: "many" },
			],
		});
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([
			"conditions[1].field",
			"conditions[2].operator",
			"conditions[3].value",
		]);
		expect((await api.get("/segments?search=bad")).body.data).toEqual([]);
	});

	test("an operator outside the language is named by Ajv at its index", async () => {
		const res = await api.post("/segments/evaluate", {
			conditions: [
				{ field: "tags", operator: "contains", value: "x" },
				{ field: "tags", operator: "regex", value: ".*" },
			],
		});
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "conditions[1].operator", message: expect.stringContaining("must be one of") }]);
	});

	test.each<[string, unknown]>([
		["$where as a value", { field: "username", operator: "eq", value: { $where: "sleep(100)" } }],
		["$gt as a value", { field: "username", operator: "eq", value: { $gt: "" } }],
		["$ne in a list", { field: "accountId", operator: "in", value: [{ $ne: null }] }],
		["$regex as a tag", { field: "tags", operator: "contains", value: { $regex: ".*" } }],
		["$exists on an attribute", { field: "attributes.tier", operator: "eq", value: { $exists: true } }],
	])("%s is refused (422 on the value), never run as a query", async (_label, condition) => {
		const res = await api.post("/segments/evaluate", { conditions: [condition] });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "conditions[0].value", message: expect.any(String) }]);
	});

	test("query keys smuggled into a condition or the body are refused", async () => {
		const extra = await api.post("/segments/evaluate", {
			conditions: [{ field: "tags", operator: "contains", value: "vip", $where: "1" }],
		});
		expect(extra.status).toBe(422);
		expect(extra.body.details).toEqual([{ field: "conditions[0].$where", message: "is not allowed" }]);
		const field = await api.post("/segments/evaluate", { conditions: [{ field: "attributes.$gt", operator: "eq", value: 1 }] });
		expect(field.body.details).toEqual([{ field: "conditions[0].field", message: expect.any(String) }]);
		const body = await api.post("/segments/evaluate", { conditions: [], merchantId: M2 });
		expect(body.status).toBe(422);
	});
});

describe("tenancy", () => {
	test("every :id route answers 404 for another merchant's segment, and evaluate counts only own contacts", async () => {
		const s = (await api.post("/segments", vip)).body.data;
		for (const res of [
			await other.get(`/segments/${s.id}`),
			await other.put(`/segments/${s.id}`, { name: "stolen" }),
			await other.post(`/segments/${s.id}/evaluate`),
			await other.del(`/segments/${s.id}`),
		]) {
			expect(res.status).toBe(404);
			expect(res.body.errorCode).toBe("NOT_FOUND");
		}
		const theirs = await other.post("/segments/evaluate", { conditions: vip.conditions });
		expect(theirs.body.data).toMatchObject({ contactCount: 1, sampleContacts: [{ id: ids.other_vip }] });
		expect((await other.get("/segments")).body.data).toEqual([]);
	});
});
