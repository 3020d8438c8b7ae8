import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";

// GET /contacts and GET /conversations walk a merchant's rows by day and hour of activity
// (lib/activity-buckets.ts): pages by `skip` or by the `nextCursor` keyset, in the order of the
// latest activity (then id), every row once, scoped by the token's merchant; a cursor that is not
// one of this list and merchant is a 400.

useFreshDatabase("activity_pages");

const MA = "merchant-pages-a";
const MB = "merchant-pages-b";
const ACC_A = randomUUID();
const ACC_B = randomUUID();

let node: TestNode;
let a: ReturnType<typeof client>;
let b: ReturnType<typeof client>;

// Activity over three days and two years, two rows at the very same instant (ordered by id),
// one with none yet (listed by when it was created: now).
const TIMES = [
	"2026-01-18T09:30:00Z",
	"2026-01-18T09:30:00Z",
	"2026-01-18T09:05:00Z",
	"2026-01-18T08:59:59Z",
	"2026-01-17T23:00:00Z",
	"2026-01-01T00:00:00Z",
	"2025-12-31T23:59:59Z",
	"2024-06-01T12:00:00Z",
	null,
];

const contactIds: string[] = [];
const conversationIds: string[] = [];

type Row = { _id: string; activityAt: Date };
const listOrder = (rows: Row[]) => [...rows].sort((x, y) => +y.activityAt - +x.activityAt || (x._id < y._id ? -1 : 1)).map(r => r._id);

async function walk(api: ReturnType<typeof client>, path: string, take: number) {
	const seen: string[] = [];
	const pages = [];
	let after: string | null = null;
	for (let i = 0; i < 20; i++) {
		const res: { status: number; body: { data: { id: string }[]; pagination: { nextCursor: string | null } } } = await api.get(
			`${path}?take=${take}${after ? `&after=${encodeURIComponent(after)}` : ""}`
		);
		expect(res.status).toBe(200);
		pages.push(res.body.pagination);
		seen.push(...res.body.data.map(r => r.id));
		after = res.body.pagination.nextCursor;
		if (!after) break;
	}
	return { seen, pages };
}

beforeAll(async () => {
	node = await startNode({ services: ["api", "contacts", "inbox"], overrides: { api: { settings: { rateLimitPerMinute: 10_000 } } } });
	a = client(node.url, tokenFor(MA));
	b = client(node.url, tokenFor(MB));
	for (const [i, at] of TIMES.entries()) {
		const contact = await ContactModel.create({
			merchantId: MA,
			accountId: ACC_A,
			twitterUserId: `pages-${i}`,
			username: `page_${i}`,
			lastInteractionAt: at ? new Date(at) : null,
		});
		contactIds.push(contact._id as string);
		const conversation = await ConversationModel.create({
			merchantId: MA,
			accountId: ACC_A,
			contactId: contact._id,
			openKey: `open:${contact._id}`,
			startedAt: new Date("2024-01-01T00:00:00Z"),
			lastMessageAt: at ? new Date(at) : null,
		});
		conversationIds.push(conversation._id as string);
	}
	// Another merchant's rows at the same times.
	for (const [i, at] of TIMES.entries()) {
		const contact = await ContactModel.create({
			merchantId: MB,
			accountId: ACC_B,
			twitterUserId: `pages-b-${i}`,
			lastInteractionAt: at ? new Date(at) : null,
		});
		await ConversationModel.create({
			merchantId: MB,
			accountId: ACC_B,
			contactId: contact._id,
			openKey: `open:${contact._id}`,
			lastMessageAt: at ? new Date(at) : null,
		});
	}
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

describe.each([
	["contacts", "/contacts", () => ContactModel.find({ merchantId: MA }, { activityAt: 1 }).lean<Row[]>(), () => contactIds],
	[
		"conversations",
		"/conversations",
		() => ConversationModel.find({ merchantId: MA }, { activityAt: 1 }).lean<Row[]>(),
		() => conversationIds,
	],
])("GET %s", (_name, path, stored, ids) => {
	test("the cursor walks every row once, latest activity first (then id), and ends", async () => {
		const expected = listOrder(await stored());
		expect(expected).toHaveLength(TIMES.length);
		expect(new Set(expected)).toEqual(new Set(ids()));
		for (const take of [1, 2, 4]) {
			const { seen, pages } = await walk(a, path, take);
			expect(seen).toEqual(expected);
			expect(pages[pages.length - 1].nextCursor).toBeNull();
		}
	});

	test("skip pages agree with the cursor; the total is exact once the list's end is in reach", async () => {
		const expected = listOrder(await stored());
		const first = await a.get(`${path}?take=4`);
		expect(first.body.pagination).toMatchObject({ page: 1, limit: 4, total: 5, totalPages: 2, totalExact: false });
		const third = await a.get(`${path}?take=4&skip=8`);
		expect(third.body.data.map((r: { id: string }) => r.id)).toEqual(expected.slice(8));
		expect(third.body.pagination).toEqual({ page: 3, limit: 4, total: 9, totalPages: 3, totalExact: true, nextCursor: null });
		const all = await a.get(`${path}?take=100`);
		expect(all.body.data.map((r: { id: string }) => r.id)).toEqual(expected);
		expect(all.body.pagination).toMatchObject({ total: 9, totalExact: true, nextCursor: null });
	});

	test("scoped by the token's merchant: another merchant's rows never show, its cursor is a 400", async () => {
		const { seen } = await walk(b, path, 3);
		expect(seen).toHaveLength(TIMES.length);
		expect(seen.filter(id => ids().includes(id))).toEqual([]);
		const cursor = (await a.get(`${path}?take=2`)).body.pagination.nextCursor;
		const res = await b.get(`${path}?take=2&after=${encodeURIComponent(cursor)}`);
		expect(res.status).toBe(400);
		expect(res.body).toEqual({
			success: false,
			error: expect.any(String),
			errorCode: "INVALID_CURSOR",
			details: [{ field: "after", message: expect.any(String) }],
		});
	});

	test("a malformed cursor, or one of the other list, is a 400 in the contract's shape", async () => {
		const otherPath = path === "/contacts" ? "/conversations" : "/contacts";
		const foreignList = (await a.get(`${otherPath}?take=2`)).body.pagination.nextCursor;
		for (const bad of ["not-a-cursor", Buffer.from("[1,2]").toString("base64url"), foreignList]) {
			const res = await a.get(`${path}?after=${encodeURIComponent(bad)}`);
			expect(res.status).toBe(400);
			expect(res.body).toMatchObject({ success: false, errorCode: "INVALID_CURSOR" });
			expect(typeof res.body.error).toBe("string");
		}
	});
});
