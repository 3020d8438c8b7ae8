import { randomBytes } from "node:crypto";
import { MemoryCounterStore, NatsKvCounterStore, type CounterStore } from "../../lib/rate-limit.ts";
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
		const results = await Promise.all([
			a.get("/accounts"),
			b.get("/accounts"),
			a.get("/accounts"),
			b.get("/accounts"),
			a.get("/accounts"),
			b.get("/accounts"),
			a.get("/accounts"),
		]);
		const statuses = results.map(r => r.status).sort();
		expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
	});
});

describe("the limit holds over any 60 s window, across a minute boundary", () => {
	// A fixed minute lets 200 through in one second around its boundary (100 before, 100 after).
	const minute = 60_000;
	const boundary = Math.ceil(Date.now() / minute) * minute + 10 * minute;
	const stores: [string, () => Promise<CounterStore>][] = [
		["memory", async () => new MemoryCounterStore()],
		["NATS JetStream KV", () => NatsKvCounterStore.connect(NATS_URL, `mktx_test_${randomBytes(4).toString("hex")}`)],
	];

	test.each(stores)("%s: 100 just before the boundary, none just after, room again a window later", async (_name, open) => {
		const store = await open();
		try {
			const hit = (now: number) => store.hit("api:m-boundary", 100, minute, { now });
			const before = [];
			for (let i = 0; i < 100; i++) before.push(await hit(boundary - 500 + i));
			expect(before.every(h => h.allowed)).toBe(true);
			const after = [];
			for (let i = 0; i < 20; i++) after.push(await hit(boundary + 500 + i * 100));
			expect(after.map(h => h.allowed)).toEqual(Array(20).fill(false));
			// The refusal says when the hits of that second leave the window; then they all have left.
			const reopens = after[0].resetAt;
			expect(reopens).toBeGreaterThan(boundary + 500);
			expect(reopens).toBeLessThanOrEqual(boundary - 500 + 62_000);
			expect((await hit(reopens - 1)).allowed).toBe(false);
			const again = await hit(reopens);
			expect(again).toMatchObject({ allowed: true, remaining: 99 });
		} finally {
			await store.close();
		}
	});

	test.each(stores)("%s: hits spread over a window are counted together", async (_name, open) => {
		const store = await open();
		try {
			const results = [];
			for (let s = 0; s < 12; s++)
				results.push((await store.hit("api:m-spread", 10, minute, { now: boundary - 30_000 + s * 5_000 })).allowed);
			// 10 in the first 50 s; the 11th and 12th (at +50 s, +55 s) share a window with all of them.
			expect(results).toEqual([...Array(10).fill(true), false, false]);
		} finally {
			await store.close();
		}
	});
});

test("two deployments (namespaces) on one NATS keep their own counts in the same bucket", async () => {
	const bucket = `mktx_test_${randomBytes(4).toString("hex")}`;
	const [a, b] = await Promise.all([
		NatsKvCounterStore.connect(NATS_URL, bucket, "deploy-a"),
		NatsKvCounterStore.connect(NATS_URL, bucket, "deploy-b"),
	]);
	try {
		const now = Date.now();
		for (let i = 0; i < 3; i++) expect((await a.hit("webhook-events", 3, 60_000, { now: now + i })).allowed).toBe(true);
		expect((await a.hit("webhook-events", 3, 60_000, { now: now + 3 })).allowed).toBe(false);
		expect((await b.hit("webhook-events", 3, 60_000, { now: now + 4 })).allowed).toBe(true);
	} finally {
		await a.close();
		await b.close();
	}
});

test("concurrent hits on one key from two gateways: exactly what fits is allowed", async () => {
	// Each gateway applies the hits that arrive together with one read and one compare-and-set
	// (lib/group-commit.ts); the two gateways still collide with each other and retry. Costs of
	// 1–3 events, as X's deliveries carry: the limit is counted in events, not requests.
	const bucket = `mktx_test_${randomBytes(4).toString("hex")}`;
	const [a, b] = await Promise.all([NatsKvCounterStore.connect(NATS_URL, bucket), NatsKvCounterStore.connect(NATS_URL, bucket)]);
	try {
		const now = Date.now();
		const costs = Array.from({ length: 300 }, (_, i) => 1 + (i % 3));
		const hits = await Promise.all(costs.map((cost, i) => (i % 2 ? a : b).hit("webhook-events", 250, 60_000, { now: now + i, cost })));
		const allowed = hits.map((h, i) => (h.allowed ? costs[i] : 0)).reduce((x, y) => x + y, 0);
		// Every hit that fits is allowed: refusals start only when the next one would not fit.
		expect(allowed).toBeLessThanOrEqual(250);
		expect(allowed).toBeGreaterThan(250 - 3);
		const refused = hits.filter(h => !h.allowed);
		expect(refused.length).toBeGreaterThan(0);
		for (const h of refused) expect(h.remaining).toBeLessThan(3);
		// The count both gateways see afterwards is the one they allowed.
		const probe = await a.hit("webhook-events", 1000, 60_000, { now: now + 400 });
		expect(probe.remaining).toBe(1000 - allowed - 1);
	} finally {
		await a.close();
		await b.close();
	}
});
