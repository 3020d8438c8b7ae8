import { createHmac } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";

useFreshDatabase("platform");

let node: TestNode;
beforeAll(async () => {
	node = await startNode({ services: ["api", "accounts"], overrides: { api: { settings: { rateLimitPerMinute: 1000 } } } });
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const b64url = (obj: object) => Buffer.from(JSON.stringify(obj)).toString("base64url");

describe("gateway envelope and routing", () => {
	test("GET /accounts answers the contract's envelope with pagination, empty at first", async () => {
		const res = await client(node.url, tokenFor("m-empty")).get("/accounts");
		expect(res.status).toBe(200);
		expect(res.body).toEqual({ success: true, data: [], pagination: { page: 1, limit: 20, total: 0, totalPages: 0 } });
	});

	test("health endpoints answer outside the base path without a token", async () => {
		const api = client(node.url);
		expect((await api.get("/health/live")).status).toBe(200);
		const ready = await api.get("/health/ready");
		expect(ready.status).toBe(200);
		expect(ready.body).toMatchObject({ status: "ready", database: true, broker: true });
	});

	test("an unknown route is a 404 in the contract's error shape", async () => {
		const api = client(node.url, tokenFor("m1"));
		for (const res of [await api.get("/no-such-thing"), await api.request("GET", "/../../elsewhere")]) {
			expect(res.status).toBe(404);
			expect(res.body).toMatchObject({ success: false, errorCode: "NOT_FOUND" });
			expect(typeof res.body.error).toBe("string");
		}
	});

	test("malformed JSON is a 400 BAD_REQUEST, not a 500", async () => {
		const res = await client(node.url, tokenFor("m1")).request("PUT", "/accounts/0b8f2a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", "{not json");
		expect(res.status).toBe(400);
		expect(res.body).toMatchObject({ success: false, errorCode: "BAD_REQUEST" });
	});

	test("a body over 1 MB is a 413", async () => {
		const res = await client(node.url, tokenFor("m1")).request(
			"PUT",
			"/accounts/0b8f2a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
			JSON.stringify({ x: "a".repeat(1_100_000) })
		);
		expect(res.status).toBe(413);
		expect(res.body).toMatchObject({ success: false, errorCode: "PAYLOAD_TOO_LARGE" });
	});

	test("errors are in Vietnamese by default and in English when asked; the code stays", async () => {
		const api = client(node.url);
		const vi = await api.get("/accounts", { "Accept-Language": "vi" });
		const en = await api.get("/accounts", { "Accept-Language": "en-US,en;q=0.9" });
		expect(vi.body.errorCode).toBe("UNAUTHORIZED");
		expect(en.body.errorCode).toBe("UNAUTHORIZED");
		expect(vi.body.error).not.toBe(en.body.error);
	});
});

describe("authentication", () => {
	const secret = "mkt-x-development-secret-change-me";
	const sign = (header: object, payload: object, key = secret) => {
		const unsigned = `${b64url(header)}.${b64url(payload)}`;
		return `${unsigned}.${createHmac("sha256", key).update(unsigned).digest("base64url")}`;
	};
	const now = () => Math.floor(Date.now() / 1000);

	test.each([
		["no Authorization header", undefined],
		["a non-bearer scheme", "Basic dXNlcjpwYXNz"],
		["garbage", "Bearer not.a.jwt"],
	])("%s is a 401", async (_label, header) => {
		const res = await client(node.url).get("/accounts", header ? { Authorization: header } : {});
		expect(res.status).toBe(401);
		expect(res.body).toMatchObject({ success: false, errorCode: "UNAUTHORIZED" });
	});

	test("an expired token is a 401", async () => {
		const token = sign({ alg: "HS256", typ: "JWT" }, { merchantId: "m1", exp: now() - 10 });
		const res = await client(node.url, token).get("/accounts");
		expect(res.status).toBe(401);
	});

	test("a token signed with another secret is a 401", async () => {
		const token = sign({ alg: "HS256", typ: "JWT" }, { merchantId: "m1", exp: now() + 60 }, "another-secret");
		expect((await client(node.url, token).get("/accounts")).status).toBe(401);
	});

	test("an alg:none token is a 401", async () => {
		const token = `${b64url({ alg: "none", typ: "JWT" })}.${b64url({ merchantId: "m1", exp: now() + 60 })}.`;
		expect((await client(node.url, token).get("/accounts")).status).toBe(401);
	});

	test("a token with HS512 (another algorithm, right secret) is a 401", async () => {
		const unsigned = `${b64url({ alg: "HS512", typ: "JWT" })}.${b64url({ merchantId: "m1", exp: now() + 60 })}`;
		const token = `${unsigned}.${createHmac("sha512", secret).update(unsigned).digest("base64url")}`;
		expect((await client(node.url, token).get("/accounts")).status).toBe(401);
	});

	test("a valid token without merchantId is a 401", async () => {
		const token = sign({ alg: "HS256", typ: "JWT" }, { sub: "u1", exp: now() + 60 });
		expect((await client(node.url, token).get("/accounts")).status).toBe(401);
	});

	test("a well-signed token by hand is accepted (the check is not just our own signer)", async () => {
		const token = sign({ alg: "HS256", typ: "JWT" }, { merchantId: "m-hand", exp: now() + 60 });
		expect((await client(node.url, token).get("/accounts")).status).toBe(200);
	});

	test("a read-only (viewer) token may read but not write: 403", async () => {
		const api = client(node.url, tokenFor("m1", { roles: ["viewer"] }));
		expect((await api.get("/accounts")).status).toBe(200);
		const res = await api.put("/accounts/0b8f2a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b", { autoReplyEnabled: true });
		expect(res.status).toBe(403);
		expect(res.body).toMatchObject({ success: false, errorCode: "FORBIDDEN" });
	});
});

describe("validation and tenancy", () => {
	test("every problem is reported at once with its field (422)", async () => {
		const res = await client(node.url, tokenFor("m1")).get("/accounts?take=500&status=zz&foo=1");
		expect(res.status).toBe(422);
		expect(res.body.success).toBe(false);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.error).toBe("Validation failed");
		const fields = res.body.details.map((d: { field: string }) => d.field).sort();
		expect(fields).toEqual(["foo", "status", "take"]);
		for (const d of res.body.details) expect(Object.keys(d).sort()).toEqual(["field", "message"]);
	});

	test("a malformed id is a 422 naming the field", async () => {
		const res = await client(node.url, tokenFor("m1")).get("/accounts/not-a-uuid");
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "id", message: "must be a valid uuid" }]);
	});

	test("pagination: skip/take give page, limit, total and totalPages", async () => {
		for (let i = 0; i < 7; i++) await createAccount("m-pages", { fields: { username: `shop${i}` } });
		const res = await client(node.url, tokenFor("m-pages")).get("/accounts?skip=3&take=3");
		expect(res.status).toBe(200);
		expect(res.body.data).toHaveLength(3);
		expect(res.body.pagination).toEqual({ page: 2, limit: 3, total: 7, totalPages: 3 });
	});

	test("another merchant's account answers 404, and lists never show it", async () => {
		const { account } = await createAccount("m-owner", { fields: { username: "owner_shop" } });
		const owner = client(node.url, tokenFor("m-owner"));
		const other = client(node.url, tokenFor("m-other"));
		expect((await owner.get(`/accounts/${account._id}`)).status).toBe(200);
		const foreign = await other.get(`/accounts/${account._id}`);
		expect(foreign.status).toBe(404);
		expect(foreign.body).toMatchObject({ success: false, errorCode: "NOT_FOUND" });
		expect((await other.get("/accounts")).body.data).toEqual([]);
	});
});
