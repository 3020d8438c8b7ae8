import { randomUUID } from "node:crypto";
import type { Service } from "moleculer";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";

useFreshDatabase("contacts");

const M1 = "merchant-contacts-1";
const M2 = "merchant-contacts-2";
const ACC1 = randomUUID();
const ACC2 = randomUUID();
const ACC_OTHER = randomUUID();

let node: TestNode;
let api: ReturnType<typeof client>;
let other: ReturnType<typeof client>;

beforeAll(async () => {
	node = await startNode({ services: ["api", "contacts", "inbox"], overrides: { api: { settings: { rateLimitPerMinute: 10_000 } } } });
	api = client(node.url, tokenFor(M1));
	other = client(node.url, tokenFor(M2));
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

let seq = 0;
async function seed(merchantId: string, fields: Record<string, unknown> = {}) {
	seq++;
	const doc = await ContactModel.create({
		merchantId,
		accountId: merchantId === M1 ? ACC1 : ACC_OTHER,
		twitterUserId: `tw-${seq}-${randomUUID().slice(0, 8)}`,
		username: `user${seq}`,
		displayName: `User ${seq}`,
		...fields,
	});
	return doc._id as string;
}

describe("GET /contacts", () => {
	let john: string, jane: string, dotted: string, look: string;
	beforeAll(async () => {
		await ContactModel.deleteMany({});
		john = await seed(M1, {
			username: "customer_john",
			displayName: "John Doe",
			tags: ["vip", "customer"],
			attributes: { purchaseCount: 5 },
			conversationCount: 3,
			firstInteractionAt: new Date("2025-12-01T10:00:00Z"),
			lastInteractionAt: new Date("2026-01-18T09:30:00Z"),
		});
		jane = await seed(M1, {
			username: "jane",
			displayName: "JANE Roe",
			tags: ["vip"],
			accountId: ACC2,
			lastInteractionAt: new Date("2026-01-17T00:00:00Z"),
		});
		dotted = await seed(M1, {
			username: "xa.b(y",
			displayName: "Dotted",
			tags: ["customer"],
			lastInteractionAt: new Date("2026-01-16T00:00:00Z"),
		});
		look = await seed(M1, { username: "axb(y", displayName: "Lookalike", lastInteractionAt: new Date("2026-01-15T00:00:00Z") });
		await seed(M2, { username: "customer_john", displayName: "John of another merchant", tags: ["vip", "customer"] });
	});

	test("lists the merchant's own contacts with the contract's fields and pagination, latest interaction first", async () => {
		const res = await api.get("/contacts?take=2");
		expect(res.status).toBe(200);
		// The total is exact once the page reaches the list's end; before, it counts up to one row past
		// the page (docs/embedded-engine.md, "Lists at real size").
		expect(res.body.pagination).toEqual({ page: 1, limit: 2, total: 3, totalPages: 2, totalExact: false, nextCursor: expect.any(String) });
		expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([john, jane]);
		expect(res.body.data[0]).toEqual({
			id: john,
			accountId: ACC1,
			twitterUserId: expect.any(String),
			username: "customer_john",
			displayName: "John Doe",
			profileImageUrl: null,
			tags: ["vip", "customer"],
			attributes: { purchaseCount: 5 },
			conversationCount: 3,
			firstInteractionAt: "2025-12-01T10:00:00.000Z",
			lastInteractionAt: "2026-01-18T09:30:00.000Z",
			optedOut: false,
		});
		const page2 = await api.get("/contacts?take=2&skip=2");
		expect(page2.body.data.map((c: { id: string }) => c.id)).toEqual([dotted, look]);
		expect(page2.body.pagination).toEqual({ page: 2, limit: 2, total: 4, totalPages: 2, totalExact: true, nextCursor: null });
	});

	test("accountId filters by the connected account", async () => {
		const res = await api.get(`/contacts?accountId=${ACC2}`);
		expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([jane]);
	});

	test("tags: a contact must have all of them (spaces and repeats ignored)", async () => {
		const both = await api.get("/contacts?tags=vip,%20customer,vip");
		expect(both.body.data.map((c: { id: string }) => c.id)).toEqual([john]);
		const vip = await api.get("/contacts?tags=vip");
		expect(vip.body.data.map((c: { id: string }) => c.id)).toEqual([john, jane]);
	});

	test("search matches username or display name, in any case", async () => {
		expect((await api.get("/contacts?search=JOHN")).body.data.map((c: { id: string }) => c.id)).toEqual([john]);
		expect((await api.get("/contacts?search=jane%20roe")).body.data.map((c: { id: string }) => c.id)).toEqual([jane]);
	});

	test("search text with regex characters is matched literally", async () => {
		const res = await api.get(`/contacts?search=${encodeURIComponent("a.b(")}`);
		expect(res.status).toBe(200);
		expect(res.body.data.map((c: { id: string }) => c.id)).toEqual([dotted]);
		for (const pattern of [".*", "^", "(", "[a-z]+", "\\"]) {
			const r = await api.get(`/contacts?search=${encodeURIComponent(pattern)}`);
			expect(r.status).toBe(200);
			expect(r.body.data.length).toBe(pattern === "(" ? 2 : 0);
		}
		expect(look).toBeDefined();
	});

	test("query objects in filters are refused, not run", async () => {
		const res = await api.get("/contacts?search[$gt]=&tags[$ne]=x");
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
	});

	test("take over 100 is a 422", async () => {
		const res = await api.get("/contacts?take=101");
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "take", message: expect.any(String) }]);
	});
});

describe("GET /contacts/:id", () => {
	test("shows source, consent and the engagement figures the inbox's writer keeps", async () => {
		const id = await seed(M1, {
			source: "manual",
			attributes: { preferredLanguage: "vi" },
			responseTimeTotalSeconds: 660,
			responseCount: 2,
			messagesReceived: 3,
			messagesSent: 2,
		});
		const res = await api.get(`/contacts/${id}`);
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({
			id,
			source: "manual",
			attributes: { preferredLanguage: "vi" },
			optedOut: false,
			optedOutAt: null,
			engagement: { messagesSent: 2, messagesReceived: 3, averageResponseTime: "5m 30s", averageResponseTimeSeconds: 330 },
		});
	});

	test("a contact without replies yet has no average response time", async () => {
		const id = await seed(M1);
		const res = await api.get(`/contacts/${id}`);
		expect(res.body.data.engagement).toEqual({
			messagesSent: 0,
			messagesReceived: 0,
			averageResponseTime: null,
			averageResponseTimeSeconds: null,
		});
	});

	test("an id that is not a UUID is a 422 naming id", async () => {
		const res = await api.get("/contacts/not-a-uuid");
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "id", message: "must be a valid uuid" }]);
	});
});

describe("editing", () => {
	test("PUT /contacts/:id sets the display name and merges attributes", async () => {
		const id = await seed(M1, { attributes: { purchaseCount: 5, totalSpent: 1250000 } });
		const res = await api.put(`/contacts/${id}`, {
			displayName: "John Doe (VIP)",
			attributes: { preferredLanguage: "vi", notes: "Khách hàng cao cấp" },
		});
		expect(res.status).toBe(200);
		expect(res.body.data.displayName).toBe("John Doe (VIP)");
		expect(res.body.data.attributes).toEqual({
			purchaseCount: 5,
			totalSpent: 1250000,
			preferredLanguage: "vi",
			notes: "Khách hàng cao cấp",
		});
	});

	test("PUT /contacts/:id/attributes merges, and null removes a key", async () => {
		const id = await seed(M1, { attributes: { purchaseCount: 5, tier: "silver", old: 1 } });
		const res = await api.put(`/contacts/${id}/attributes`, {
			attributes: {
				purchaseCount: 6,
				totalSpent: 1500000,
				lastPurchaseDate: "2026-01-18",
				membershipTier: "gold",
				old: null,
				active: true,
			},
		});
		expect(res.status).toBe(200);
		expect(res.body.data.attributes).toEqual({
			purchaseCount: 6,
			tier: "silver",
			totalSpent: 1500000,
			lastPurchaseDate: "2026-01-18",
			membershipTier: "gold",
			active: true,
		});
		const stored = await ContactModel.findById(id).lean();
		expect(Object.keys(stored!.attributes as object)).not.toContain("old");
	});

	test("bad attribute names and values are a 422 naming attributes.<key>, and nothing is changed", async () => {
		const id = await seed(M1, { attributes: { keep: 1 } });
		const res = await api.put(`/contacts/${id}/attributes`, {
			attributes: { "a.b": 1, $set: 2, "with space": 3, nested: { x: 1 }, list: [1], long: "x".repeat(1001), fine: "ok" },
		});
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.details.map((d: { field: string }) => d.field).sort()).toEqual(
			["attributes.$set", "attributes.a.b", "attributes.list", "attributes.long", "attributes.nested", "attributes.with space"].sort()
		);
		expect((await ContactModel.findById(id).lean())!.attributes).toEqual({ keep: 1 });
	});

	test("a contact holds at most 50 attributes", async () => {
		const id = await seed(M1, { attributes: Object.fromEntries(Array.from({ length: 45 }, (_, i) => [`k${i}`, i])) });
		const tooMany = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`n${i}`, i]));
		const res = await api.put(`/contacts/${id}/attributes`, { attributes: tooMany });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "attributes", message: expect.stringContaining("50") }]);
		// removing some in the same request makes room
		const ok = await api.put(`/contacts/${id}/attributes`, { attributes: { ...tooMany, k0: null } });
		expect(ok.status).toBe(200);
		expect(Object.keys(ok.body.data.attributes)).toHaveLength(50);
	});

	test("tags are trimmed and added once; removing one leaves the rest", async () => {
		const id = await seed(M1, { tags: ["vip"] });
		const res = await api.post(`/contacts/${id}/tags`, { tags: [" premium ", "vip", "premium", "new"] });
		expect(res.status).toBe(200);
		expect(res.body.data.tags).toEqual(["vip", "premium", "new"]);
		const again = await api.post(`/contacts/${id}/tags`, { tags: ["premium"] });
		expect(again.body.data.tags).toEqual(["vip", "premium", "new"]);
		const removed = await api.del(`/contacts/${id}/tags/premium`);
		expect(removed.status).toBe(200);
		expect(removed.body.data.tags).toEqual(["vip", "new"]);
		const spaced = await api.post(`/contacts/${id}/tags`, { tags: ["khách quen"] });
		expect(spaced.body.data.tags).toContain("khách quen");
		expect((await api.del(`/contacts/${id}/tags/${encodeURIComponent("khách quen")}`)).body.data.tags).toEqual(["vip", "new"]);
	});

	test("an empty tag or one with a comma is a 422 naming it", async () => {
		const id = await seed(M1);
		const res = await api.post(`/contacts/${id}/tags`, { tags: ["ok", "  ", "a,b"] });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([
			{ field: "tags[1]", message: "must not be empty" },
			{ field: "tags[2]", message: "must not contain a comma" },
		]);
	});
});

describe("consent", () => {
	test("opt-out sets the flag and time once; opt-in clears it", async () => {
		const id = await seed(M1);
		const out = await api.post(`/contacts/${id}/opt-out`);
		expect(out.status).toBe(200);
		expect(out.body.data.optedOut).toBe(true);
		const at = out.body.data.optedOutAt;
		expect(Date.parse(at)).toBeGreaterThan(Date.now() - 60_000);
		const again = await api.post(`/contacts/${id}/opt-out`);
		expect(again.body.data.optedOutAt).toBe(at);
		const back = await api.post(`/contacts/${id}/opt-in`);
		expect(back.body.data).toMatchObject({ optedOut: false, optedOutAt: null, optedIn: true });
	});

	test("other services call contacts.optOut with the merchant in meta; without one it is refused", async () => {
		const id = await seed(M1);
		const res = await node.broker.call<{ optedOut: boolean }, { id: string }>("contacts.optOut", { id }, { meta: { merchantId: M1 } });
		expect(res.optedOut).toBe(true);
		await expect(node.broker.call("contacts.optOut", { id }, { meta: { merchantId: M2 } })).rejects.toMatchObject({ type: "NOT_FOUND" });
		await expect(node.broker.call("contacts.optOut", { id })).rejects.toMatchObject({ type: "UNAUTHORIZED" });
	});
});

describe("GDPR erase: DELETE /contacts/:id", () => {
	let watcher: Service | undefined;
	const erasedEvents: unknown[] = [];
	afterAll(async () => {
		if (watcher) await node.broker.destroyService(watcher);
	});

	test("erases the contact, conversations and messages, reports counts, leaves others alone", async () => {
		// a later service (campaigns) that keeps rows about contacts answers eraseContact
		watcher = node.broker.createService({
			name: "fakecampaigns",
			actions: { eraseContact: { visibility: "public", handler: () => ({ campaignDeliveries: 2 }) } },
			events: { "contact.erased": { handler: (ctx: { params: unknown }) => void erasedEvents.push(ctx.params) } },
		});
		await node.broker.waitForServices(["fakecampaigns"]);

		const id = await seed(M1, { tags: ["vip"] });
		const keep = await seed(M1);
		for (const contactId of [id, keep]) {
			for (let c = 0; c < 2; c++) {
				const conv = await ConversationModel.create({ merchantId: M1, accountId: ACC1, contactId, openKey: `k:${contactId}:${c}` });
				await MessageModel.insertMany(
					[0, 1, 2].map(i => ({
						merchantId: M1,
						accountId: ACC1,
						conversationId: conv._id,
						contactId,
						direction: i ? "outbound" : "inbound",
						status: "sent",
						content: `m${i}`,
					}))
				);
			}
		}
		const res = await api.del(`/contacts/${id}`);
		expect(res.status).toBe(200);
		expect(res.body.data).toEqual({ id, erased: { contacts: 1, conversations: 2, messages: 6, campaignDeliveries: 2 } });
		expect(await ContactModel.countDocuments({ _id: id })).toBe(0);
		expect(await ConversationModel.countDocuments({ contactId: id })).toBe(0);
		expect(await MessageModel.countDocuments({ contactId: id })).toBe(0);
		expect(await ConversationModel.countDocuments({ contactId: keep })).toBe(2);
		expect(await MessageModel.countDocuments({ contactId: keep })).toBe(6);
		await waitUntil(() => erasedEvents.length > 0, 5000, "contact.erased");
		expect(erasedEvents).toEqual([{ merchantId: M1, contactId: id }]);
		expect((await api.get(`/contacts/${id}`)).status).toBe(404);
		expect((await api.del(`/contacts/${id}`)).status).toBe(404);
	});
});

describe("GET /contacts/export", () => {
	test("streams the filtered list as CSV, quoting and defusing customer text", async () => {
		await ContactModel.deleteMany({ merchantId: M1 });
		const a = await seed(M1, { username: "csv_a", displayName: 'He said "hi", then left', tags: ["vip", "x"], attributes: { n: 1 } });
		const b = await seed(M1, { username: "csv_b", displayName: '=HYPERLINK("http://evil")', tags: ["vip"] });
		await seed(M1, { username: "csv_c", tags: ["other"] });
		await seed(M2, { username: "csv_other_merchant", tags: ["vip"] });
		const res = await api.get("/contacts/export?tags=vip");
		expect(res.status).toBe(200);
		expect(res.headers.get("content-type")).toBe("text/csv; charset=utf-8");
		expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="contacts-\d{4}-\d{2}-\d{2}\.csv"$/);
		const lines = (res.body as string)
			.replace(/^\uFEFF/, "")
			.trimEnd()
			.split("\r\n");
		expect(lines[0]).toBe(
			"id,accountId,twitterUserId,username,displayName,tags,attributes,source,conversationCount,firstInteractionAt,lastInteractionAt,optedOut,optedOutAt"
		);
		expect(lines).toHaveLength(3);
		const byId = Object.fromEntries(lines.slice(1).map(l => [l.slice(0, 36), l]));
		expect(byId[a]).toContain(',csv_a,"He said ""hi"", then left",vip;x,"{""n"":1}",inbound_message,0,,,false,');
		expect(byId[b]).toContain(`,csv_b,"'=HYPERLINK(""http://evil"")",vip,`);
	});

	test("a list larger than one internal page comes out whole, once each", async () => {
		await ContactModel.deleteMany({ merchantId: M1 });
		await ContactModel.insertMany(
			Array.from({ length: 1234 }, (_, i) => ({
				merchantId: M1,
				accountId: ACC1,
				twitterUserId: `bulk-${i}`,
				username: `bulk${i}`,
				tags: i % 2 ? ["odd"] : [],
			}))
		);
		const res = await api.get("/contacts/export");
		const lines = (res.body as string).trimEnd().split("\r\n").slice(1);
		expect(lines).toHaveLength(1234);
		expect(new Set(lines.map(l => l.slice(0, 36))).size).toBe(1234);
		const odd = await api.get("/contacts/export?tags=odd");
		expect((odd.body as string).trimEnd().split("\r\n")).toHaveLength(1 + 617);
	});
});

describe("tenancy", () => {
	test("every :id route answers 404 for another merchant's contact and changes nothing", async () => {
		const id = await seed(M1, { tags: ["vip"], attributes: { a: 1 }, displayName: "Mine" });
		const calls = [
			() => other.get(`/contacts/${id}`),
			() => other.put(`/contacts/${id}`, { displayName: "Stolen" }),
			() => other.put(`/contacts/${id}/attributes`, { attributes: { a: 2 } }),
			() => other.post(`/contacts/${id}/tags`, { tags: ["hacked"] }),
			() => other.del(`/contacts/${id}/tags/vip`),
			() => other.post(`/contacts/${id}/opt-out`),
			() => other.post(`/contacts/${id}/opt-in`),
			() => other.del(`/contacts/${id}`),
		];
		for (const call of calls) {
			const res = await call();
			expect(res.status).toBe(404);
			expect(res.body).toMatchObject({ success: false, errorCode: "NOT_FOUND" });
		}
		const stored = await ContactModel.findById(id).lean();
		expect(stored).toMatchObject({ displayName: "Mine", tags: ["vip"], attributes: { a: 1 }, optedOut: false });
		expect((await other.get("/contacts")).body.data.map((c: { id: string }) => c.id)).not.toContain(id);
	});

	test("a request without a token is a 401", async () => {
		expect((await client(node.url).get("/contacts")).status).toBe(401);
	});
});
