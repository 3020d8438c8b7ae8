import { randomBytes } from "node:crypto";
import { brotliCompressSync, gzipSync } from "node:zlib";
import type { ServiceSchema } from "moleculer";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitForAliases, waitUntil, type TestNode } from "../helpers/node.ts";
import { DbProxy } from "../helpers/db-proxy.ts";
import { RequestKeyModel } from "../../models/request-key.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { keyId } from "../../lib/idempotency.ts";

// The gateway under faults: unknown outcomes said as such, safe retries with Idempotency-Key,
// a database that stalls or dies (through a TCP proxy in front of the run's FerretDB), readiness
// that answers whatever happens, and a stop that stops.

const dbName = useFreshDatabase("gateway_rel");
const REQUEST_TIMEOUT = 3000;

/** Actions that wait until the test lets them go, and count their runs. */
function probeService() {
	const gates: (() => void)[] = [];
	const runs: Record<string, number> = {};
	let healthy = true;
	const wait = (tag: string) => {
		runs[tag] = (runs[tag] ?? 0) + 1;
		return new Promise<{ tag: string; run: number }>(resolve => gates.push(() => resolve({ tag, run: runs[tag] })));
	};
	const schema: Partial<ServiceSchema> = {
		name: "probe",
		settings: { rest: "/" },
		actions: {
			write: { rest: "POST /probe/slow", handler: (ctx: { params: { tag: string } }) => wait(ctx.params.tag) },
			read: { rest: "GET /probe/slow", handler: (ctx: { params: { tag: string } }) => wait(ctx.params.tag) },
			health: { handler: () => ({ ready: healthy, pending: gates.length }) },
		},
	};
	return {
		schema,
		runs,
		waiting: () => gates.length,
		releaseAll: () => gates.splice(0).forEach(go => go()),
		setHealthy: (ok: boolean) => void (healthy = ok),
	};
}

let proxy: DbProxy;
let node: TestNode;
let probe: ReturnType<typeof probeService>;
const M1 = "m-rel-1";
const M2 = "m-rel-2";
const template = (name: string) => ({ name, type: "text", content: "Chào {{name}}", variables: ["name"] });
const keyed = (key: string, more: Record<string, string> = {}) => ({ "Idempotency-Key": key, ...more });

beforeAll(async () => {
	proxy = await DbProxy.start(process.env.TEST_MONGO_BASE!);
	process.env.MONGO_URL = proxy.url(dbName);
	probe = probeService();
	node = await startNode({
		services: ["api", "templates", "segments", "contacts", "inbox"],
		overrides: { api: { settings: { rateLimitPerMinute: 10_000 } } },
		extraServices: [probe.schema],
		broker: { requestTimeout: REQUEST_TIMEOUT },
	});
	await waitForAliases(node.broker, ["probe.write", "probe.read"]);
});
afterAll(async () => {
	probe.releaseAll();
	proxy.resume();
	await node.stop();
	await proxy.close();
	process.env.MONGO_URL = `${process.env.TEST_MONGO_BASE}${dbName}`;
	await dropDatabase();
});

describe("an outcome the gateway cannot know is said as such", () => {
	test("a write with no answer in time is 504 OUTCOME_UNKNOWN without a retry hint; a read is 503 with one", async () => {
		const api = client(node.url, tokenFor(M1));
		const [write, read] = await Promise.all([api.post("/probe/slow", { tag: "t-write" }), api.get("/probe/slow?tag=t-read")]);
		expect(write.status).toBe(504);
		expect(write.body).toMatchObject({ success: false, errorCode: "OUTCOME_UNKNOWN" });
		expect(write.body.error).not.toMatch(/thử lại|try again/i);
		expect(write.headers.get("retry-after")).toBeNull();
		expect(read.status).toBe(503);
		expect(read.body).toMatchObject({ success: false, errorCode: "SERVICE_UNAVAILABLE" });
		expect(read.headers.get("retry-after")).toBe("5");
		probe.releaseAll();
	});
});

describe("Idempotency-Key on creates", () => {
	test("the same key and body answer the first answer again; one template exists", async () => {
		const api = client(node.url, tokenFor(M1));
		const key = `k-${randomBytes(4).toString("hex")}`;
		const first = await api.post("/templates", template("once"), keyed(key));
		const again = await api.post("/templates", template("once"), keyed(key));
		expect(first.status).toBe(200);
		expect(again.status).toBe(first.status);
		expect(again.body).toEqual(first.body);
		expect(again.headers.get("idempotent-replayed")).toBe("true");
		const list = await api.get("/templates?search=once");
		expect(list.body.data.filter((t: { name: string }) => t.name === "once")).toHaveLength(1);
	});

	test("the same key with another body is 409 IDEMPOTENCY_KEY_REUSED; the key is per merchant", async () => {
		const key = `k-${randomBytes(4).toString("hex")}`;
		const api = client(node.url, tokenFor(M1));
		expect(
			(await api.post("/segments", { name: "vip", conditions: [{ field: "tags", operator: "contains", value: "vip" }] }, keyed(key))).status
		).toBe(200);
		const reused = await api.post(
			"/segments",
			{ name: "vip2", conditions: [{ field: "tags", operator: "contains", value: "vip" }] },
			keyed(key)
		);
		expect(reused.status).toBe(409);
		expect(reused.body).toMatchObject({ success: false, errorCode: "IDEMPOTENCY_KEY_REUSED" });
		const otherAction = await api.post("/templates", template("other-action"), keyed(key));
		expect(otherAction.body.errorCode).toBe("IDEMPOTENCY_KEY_REUSED");
		const otherMerchant = await client(node.url, tokenFor(M2)).post(
			"/segments",
			{ name: "vip2", conditions: [{ field: "tags", operator: "contains", value: "vip" }] },
			keyed(key)
		);
		expect(otherMerchant.status).toBe(200);
		expect(otherMerchant.body.data.merchantId).toBe(M2);
	});

	test("a repeat while the first is in flight is 409 IDEMPOTENCY_IN_PROGRESS; afterwards the first answer, run once", async () => {
		const api = client(node.url, tokenFor(M1));
		const key = `k-${randomBytes(4).toString("hex")}`;
		const tag = `inflight-${key}`;
		const first = api.post("/probe/slow", { tag }, keyed(key));
		await waitUntil(() => probe.runs[tag] === 1, 5000, "the first request to run");
		const during = await api.post("/probe/slow", { tag }, keyed(key));
		expect(during.status).toBe(409);
		expect(during.body.errorCode).toBe("IDEMPOTENCY_IN_PROGRESS");
		probe.releaseAll();
		expect((await first).body).toEqual({ success: true, data: { tag, run: 1 } });
		const after = await api.post("/probe/slow", { tag }, keyed(key));
		expect(after.body).toEqual({ success: true, data: { tag, run: 1 } });
		expect(probe.runs[tag]).toBe(1);
	});

	test("an unknown outcome keeps the key: the retry answers OUTCOME_UNKNOWN again and never runs the write twice", async () => {
		const api = client(node.url, tokenFor(M1));
		const key = `k-${randomBytes(4).toString("hex")}`;
		const tag = `unknown-${key}`;
		const first = await api.post("/probe/slow", { tag }, keyed(key));
		expect(first.status).toBe(504);
		probe.releaseAll(); // the write finishes after the gateway gave up on it
		const retry = await api.post("/probe/slow", { tag }, keyed(key));
		expect(retry.status).toBe(504);
		expect(retry.body.errorCode).toBe("OUTCOME_UNKNOWN");
		expect(probe.runs[tag]).toBe(1);
	});

	test("a refused request (4xx) frees its key: corrected, the same key creates", async () => {
		const api = client(node.url, tokenFor(M1));
		const key = `k-${randomBytes(4).toString("hex")}`;
		const bad = await api.post("/templates", { type: "text", content: "Chào {{name}}" }, keyed(key));
		expect(bad.status).toBe(422);
		const good = await api.post("/templates", template("fixed"), keyed(key));
		expect(good.status).toBe(200);
		expect(good.body.data.name).toBe("fixed");
	});

	test("a key is forgotten after 24 h", async () => {
		const api = client(node.url, tokenFor(M1));
		const key = `k-${randomBytes(4).toString("hex")}`;
		expect((await api.post("/templates", template("day-one"), keyed(key))).status).toBe(200);
		await RequestKeyModel.updateOne({ _id: keyId(M1, key) }, { $set: { expiresAt: new Date(Date.now() - 1000) } });
		const nextDay = await api.post("/templates", template("day-two"), keyed(key));
		expect(nextDay.status).toBe(200);
		expect(nextDay.body.data.name).toBe("day-two");
	});

	test("a key longer than 200 characters is a 400 naming the header", async () => {
		const res = await client(node.url, tokenFor(M1)).post("/templates", template("long-key"), keyed("x".repeat(201)));
		expect(res.status).toBe(400);
		expect(res.body.details).toEqual([{ field: "Idempotency-Key", message: expect.any(String) }]);
	});
});

describe("bodies, assets and media URLs", () => {
	test("a compressed body that does not decode is a 400, a good one is read", async () => {
		const token = tokenFor(M1);
		for (const encoding of ["gzip", "deflate", "br"]) {
			const res = await fetch(`${node.url}/api/v1/mkt-x/templates`, {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Content-Encoding": encoding },
				body: Buffer.from("this is not compressed at all"),
			});
			expect([encoding, res.status]).toEqual([encoding, 400]);
			expect(await res.json()).toMatchObject({ success: false, errorCode: "BAD_REQUEST" });
		}
		const webhook = await fetch(`${node.url}/api/v1/mkt-x/webhooks/twitter`, {
			method: "POST",
			headers: { "Content-Encoding": "gzip" },
			body: Buffer.from("garbage"),
		});
		expect(webhook.status).toBe(400);
		for (const [encoding, body] of [
			["gzip", gzipSync(JSON.stringify(template("gzipped")))],
			["br", brotliCompressSync(JSON.stringify(template("brotli")))],
		] as const) {
			const res = await fetch(`${node.url}/api/v1/mkt-x/templates`, {
				method: "POST",
				headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json", "Content-Encoding": encoding },
				body,
			});
			expect(res.status).toBe(200);
		}
	});

	test("an unknown docs asset is a 404, prototype keys included", async () => {
		const api = client(node.url, undefined, "");
		for (const file of ["constructor", "__proto__", "toString", "hasOwnProperty", "nope.js"]) {
			const res = await api.get(`/api/docs/${file}`);
			expect([file, res.status]).toEqual([file, 404]);
			expect(res.body).toMatchObject({ success: false, errorCode: "NOT_FOUND" });
		}
		expect((await api.get("/api/docs/swagger-ui.css")).status).toBe(200);
	});

	test("a media URL on a loopback address is a 422 naming attachments[0].url, and nothing is stored", async () => {
		const conversation = await ConversationModel.create({
			merchantId: M1,
			accountId: "acc-1",
			contactId: "contact-1",
			openKey: `acc-1:contact-1:${randomBytes(3).toString("hex")}`,
		});
		const api = client(node.url, tokenFor(M1));
		for (const url of [
			"http://[::ffff:127.0.0.1]/a.png",
			"http://[::ffff:7f00:1]/a.png",
			"http://2130706433/a.png",
			"http://[fe80::1]/a.png",
		]) {
			const res = await api.post(`/conversations/${conversation._id}/messages`, {
				content: "look",
				type: "image",
				attachments: [{ type: "image", url }],
			});
			expect([url, res.status]).toEqual([url, 422]);
			expect(res.body.details).toEqual([{ field: "attachments[0].url", message: expect.any(String) }]);
		}
		expect(await MessageModel.countDocuments({ conversationId: conversation._id })).toBe(0);
	});
});

describe("/health/ready", () => {
	test("services add to its details through a `health` action; ready:false makes it 503", async () => {
		const api = client(node.url);
		const ready = await api.get("/health/ready");
		expect(ready.status).toBe(200);
		expect(ready.body).toMatchObject({
			status: "ready",
			database: true,
			broker: true,
			reasons: [],
			details: { probe: { ready: true, pending: 0 } },
		});
		probe.setHealthy(false);
		try {
			const notReady = await api.get("/health/ready");
			expect(notReady.status).toBe(503);
			expect(notReady.body).toMatchObject({ status: "not_ready", reasons: ["probe is not ready"] });
		} finally {
			probe.setHealthy(true);
		}
	});
});

// Last: these break the node's database connection.
describe("a database that stalls or dies", () => {
	afterEach(() => proxy.resume());

	test("stalled: readiness still answers (503 with the reason), a write is OUTCOME_UNKNOWN, a read 503, a keyed create 503 (nothing ran)", async () => {
		const api = client(node.url, tokenFor(M1));
		proxy.stall();
		const signal = () => AbortSignal.timeout(REQUEST_TIMEOUT * 3);
		const [ready, write, read, keyedWrite] = await Promise.all([
			fetch(`${node.url}/health/ready`, { signal: signal() }).then(async r => ({ status: r.status, body: await r.json() })),
			api.post("/templates", template("during-stall")),
			api.get("/templates"),
			api.post("/templates", template("keyed-during-stall"), keyed(`k-${randomBytes(4).toString("hex")}`)),
		]);
		expect(ready.status).toBe(503);
		expect(ready.body).toMatchObject({ status: "not_ready", database: false, reasons: [expect.stringMatching(/database did not answer/)] });
		expect(write.status).toBe(504);
		expect(write.body.errorCode).toBe("OUTCOME_UNKNOWN");
		expect(read.status).toBe(503);
		expect(read.headers.get("retry-after")).toBe("5");
		expect(keyedWrite.status).toBe(503);
		expect(keyedWrite.body.errorCode).toBe("SERVICE_UNAVAILABLE");
	});

	test("killed during a request: a write answers 503 OUTCOME_UNKNOWN, a read 503 SERVICE_UNAVAILABLE, never a 500", async () => {
		const api = client(node.url, tokenFor(M1));
		proxy.stall();
		const write = api.post("/templates", template("during-crash"));
		const read = api.get("/templates");
		await waitUntil(() => proxy.heldCount >= 2, REQUEST_TIMEOUT / 2, "both requests to reach the database");
		proxy.cut();
		const [w, r] = await Promise.all([write, read]);
		expect(w.status).toBe(503);
		expect(w.body).toMatchObject({ success: false, errorCode: "OUTCOME_UNKNOWN" });
		expect(w.headers.get("retry-after")).toBeNull();
		expect(r.status).toBe(503);
		expect(r.body).toMatchObject({ success: false, errorCode: "SERVICE_UNAVAILABLE" });
		expect(r.headers.get("retry-after")).toBe("5");
	});
});

describe("stop means stop", () => {
	test("after mktx.draining, new requests are 503 with Connection: close and readiness is 503; one in flight completes", async () => {
		const drainProbe = probeService();
		const gw = await startNode({ services: ["api"], extraServices: [drainProbe.schema] });
		try {
			await waitForAliases(gw.broker, ["probe.read"]);
			const api = client(gw.url, tokenFor(M1));
			const inFlight = api.get("/probe/slow?tag=drain");
			await waitUntil(() => drainProbe.waiting() === 1, 5000, "the request to be in flight");
			gw.broker.broadcastLocal("mktx.draining");
			const refused = await api.get("/probe/slow?tag=late", { "Accept-Language": "en" });
			expect(refused.status).toBe(503);
			expect(refused.headers.get("connection")).toBe("close");
			expect(refused.body).toMatchObject({
				success: false,
				errorCode: "SERVICE_UNAVAILABLE",
				error: expect.stringMatching(/shutting down/),
			});
			const ready = await client(gw.url).get("/health/ready");
			expect(ready.status).toBe(503);
			expect(ready.body.reasons).toContain("draining: this node is shutting down");
			expect(drainProbe.runs.late).toBeUndefined();
			drainProbe.releaseAll();
			expect((await inFlight).status).toBe(200);
		} finally {
			drainProbe.releaseAll();
			await gw.stop();
		}
	});

	test("a gateway that is stopping refuses new requests while it finishes the ones in flight", async () => {
		const drainProbe = probeService();
		const gw = await startNode({ services: ["api"], extraServices: [drainProbe.schema] });
		await waitForAliases(gw.broker, ["probe.read"]);
		const api = client(gw.url, tokenFor(M1));
		const inFlight = api.get("/probe/slow?tag=stop");
		await waitUntil(() => drainProbe.waiting() === 1, 5000, "the request to be in flight");
		const stopping = gw.stop();
		await waitUntil(() => gw.broker.stopping, 5000, "the broker to be stopping");
		const refused = await api.get("/probe/slow?tag=late");
		expect(refused.status).toBe(503);
		expect(refused.body.errorCode).toBe("SERVICE_UNAVAILABLE");
		drainProbe.releaseAll();
		expect((await inFlight).status).toBe(200);
		await stopping;
	});
});
