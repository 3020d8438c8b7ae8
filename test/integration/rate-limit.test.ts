import { randomBytes } from "node:crypto";
import { client, dropDatabase, NATS_URL, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";

useFreshDatabase("ratelimit");

const apiLimit = (n: number, bucket?: string) => ({ api: { settings: { rateLimitPerMinute: n, ...(bucket ? {} : {}) } } });

describe("per-merchant API rate limit", () => {
	let node: TestNode;
	beforeAll(async () => {
		node = await startNode({ services: ["api", "accounts"], overrides: apiLimit(3) });
	});
	afterAll(() => node.stop());

	test("every response carries X-RateLimit-*; past the limit a 429 RATE_LIMITED with Retry-After", async () => {
		const api = client(node.url, tokenFor("m-limited"));
		const statuses: number[] = [];
		const remaining: string[] = [];
		let last;
		for (let i = 0; i < 4; i++) {
			last = await api.get("/accounts");
			statuses.push(last.status);
			remaining.push(last.headers.get("x-ratelimit-remaining")!);
			expect(last.headers.get("x-ratelimit-limit")).toBe("3");
			const reset = Number(last.headers.get("x-ratelimit-reset"));
			expect(reset).toBeGreaterThan(Date.now() / 1000);
			expect(reset).toBeLessThanOrEqual(Date.now() / 1000 + 61);
		}
		expect(statuses).toEqual([200, 200, 200, 429]);
		expect(remaining).toEqual(["2", "1", "0", "0"]);
		expect(last!.body).toMatchObject({ success: false, errorCode: "RATE_LIMITED" });
		expect(Number(last!.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
	});

	test("the key is the token's merchant: another merchant still passes, a client header changes nothing", async () => {
		const spoofing = client(node.url, tokenFor("m-limited"));
		expect((await spoofing.get("/accounts", { "X-Forwarded-For": "10.9.9.9", "X-Merchant-Id": "m-fresh" })).status).toBe(429);
		expect((await client(node.url, tokenFor("m-fresh")).get("/accounts")).status).toBe(200);
	});
});

describe("two gateways share one count through NATS JetStream KV", () => {
	let gatewayA: TestNode;
	let gatewayB: TestNode;
	let core: TestNode;
	beforeAll(async () => {
		// A bucket of this run's own, so counts from other runs cannot leak in.
		process.env.RATE_LIMIT_KV_BUCKET = `mktx_test_${randomBytes(4).toString("hex")}`;
		const overrides = apiLimit(5);
		core = await startNode({ services: ["accounts"], transporter: NATS_URL, nodeID: "core-rl" });
		gatewayA = await startNode({ services: ["api"], transporter: NATS_URL, nodeID: "gw-a", overrides });
		gatewayB = await startNode({ services: ["api"], transporter: NATS_URL, nodeID: "gw-b", overrides });
	});
	afterAll(async () => {
		await Promise.all([gatewayA.stop(), gatewayB.stop()]);
		await core.stop();
		delete process.env.RATE_LIMIT_KV_BUCKET;
		await dropDatabase();
	});

	test("requests spread over both gateways are limited together", async () => {
		const token = tokenFor(`m-shared-${randomBytes(3).toString("hex")}`);
		const a = client(gatewayA.url, token);
		const b = client(gatewayB.url, token);
		const { waitForAliases } = await import("../helpers/node.ts");
		await waitForAliases(gatewayA.broker, ["accounts.list"]);
		await waitForAliases(gatewayB.broker, ["accounts.list"]);
		const results = await Promise.all([a.get("/accounts"), b.get("/accounts"), a.get("/accounts"), b.get("/accounts"), a.get("/accounts"), b.get("/accounts"), a.get("/accounts")]);
		const statuses = results.map(r => r.status).sort();
		expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
	});
});
