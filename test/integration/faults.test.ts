import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import mongoose from "mongoose";
import { ServiceBroker, type BrokerOptions } from "moleculer";
import { freePort } from "../../lib/net.ts";
import { SIDE_POOL } from "../../lib/db.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { dropPgDatabase, withDatabase } from "../../lib/ferretdb-pg.ts";
import { config } from "../../lib/config.ts";
import { NATS_URL, waitUntil } from "../helpers/node.ts";
import { dmPayload, TEST_CONSUMER_SECRET, xSignature } from "../helpers/x-events.ts";
import { reap, spawnNode, type NodeProcess } from "../helpers/processes.ts";

// Faults during a webhook burst, on real processes (`node bin/start.ts`) and a database process of
// the test's own: a node stopped (SIGTERM) or killed (SIGKILL), the database stalled (SIGSTOP)
// or killed and restarted, the gateway stopped. Each ends with the counts of acknowledged,
// stored, duplicated and lost events: whatever X was told 200 is stored exactly once.

// Each test starts real processes and a burst: minutes, not seconds.
const MINUTES = 240_000;

const EVENTS = 240;
const CUSTOMERS = 30;
const CONCURRENCY = 10;
const ACCOUNT_X_ID = "4242000001";

let ferret: RunningFerretDb;
let ferretPort: number;
let ferretDir: string;
// A PostgreSQL database of this file's own when FerretDB runs on PostgreSQL (dropped after).
const pgUrl = withDatabase(config().ferretdb.postgresqlUrl, `mktx_faults_${process.pid}_${randomBytes(3).toString("hex")}`);
const startDatabase = () =>
	startFerretDb({
		port: ferretPort,
		dataDir: ferretDir,
		postgresqlUrl: pgUrl,
		handler: process.env.TEST_FERRETDB_HANDLER === "sqlite" ? "sqlite" : "auto",
		log: () => {},
	});
let running: NodeProcess[] = [];

beforeAll(async () => {
	ferretPort = await freePort();
	ferretDir = mkdtempSync(path.join(os.tmpdir(), "mktx-faults-db-"));
	ferret = await startDatabase();
});
afterEach(async () => {
	await reap(running);
	running = [];
});
afterAll(async () => {
	await ferret?.stop();
	if (ferret?.handler === "postgresql") await dropPgDatabase(pgUrl).catch(() => {});
});

interface World {
	env: Record<string, string>;
	gatewayUrl: string;
	observer: ServiceBroker;
	db: mongoose.Connection;
	start(name: string, services: string, extra?: Record<string, string>): NodeProcess;
}

async function world(): Promise<World> {
	const id = randomBytes(4).toString("hex");
	const port = await freePort();
	const env = {
		MONGO_URL: `${ferret.url}faults_${id}`,
		TRANSPORTER: NATS_URL,
		MOLECULER_NAMESPACE: `mkt-x-faults-${id}`,
		X_CONSUMER_SECRET: TEST_CONSUMER_SECRET,
		NODE_ENV: "test",
		RATE_LIMIT_WEBHOOK_EVENTS_PER_MINUTE: "1000000",
		REQUEST_TIMEOUT_MS: "5000",
	};
	const start = (name: string, services: string, extra: Record<string, string> = {}) => {
		const node = spawnNode(`${name}-${id}`, { ...env, SERVICES: services, PORT: "0", ...extra });
		running.push(node);
		return node;
	};
	start("gateway", "api,accounts,webhooks", { PORT: String(port) });
	start("inbox-1", "inbox,contacts");
	const observer = new ServiceBroker({
		namespace: env.MOLECULER_NAMESPACE,
		transporter: NATS_URL as BrokerOptions["transporter"],
		logger: false,
		nodeID: `observer-${id}`,
	});
	await observer.start();
	await observer.waitForServices(["api", "accounts", "webhooks", "inbox", "contacts"], 90_000);
	const gatewayUrl = `http://127.0.0.1:${port}`;
	await waitUntil(async () => (await fetch(`${gatewayUrl}/health/ready`).catch(() => null))?.status === 200, 60_000, "gateway ready");
	const db = await mongoose.createConnection(env.MONGO_URL, SIDE_POOL).asPromise();
	const accountId = randomBytes(8).toString("hex");
	await db.collection("accounts").insertOne({
		_id: accountId as never,
		merchantId: "m-faults",
		twitterUserId: ACCOUNT_X_ID,
		username: "faults",
		status: "active",
		createdAt: new Date(),
	});
	await db.collection("account_links").insertOne({ _id: ACCOUNT_X_ID as never, merchantId: "m-faults", accountId, linkedAt: new Date() });
	return { env, gatewayUrl, observer, db, start };
}

interface Post {
	eventId: string;
	startedAt: number;
	status: number | null;
}

/** Posts the burst like X: concurrent deliveries, each customer's in order; `during` runs once a third is acknowledged. */
async function burst(w: World, during: () => Promise<void>): Promise<{ posts: Post[]; faultDone: Promise<void> }> {
	const posts: Post[] = [];
	let acked = 0;
	let faultDone: Promise<void> | null = null;
	const queues = Array.from({ length: CUSTOMERS }, (_, c) =>
		Array.from({ length: EVENTS / CUSTOMERS }, (_, k) => ({
			customer: String(55_000_000 + c),
			eventId: String(700_000_000 + c * 1000 + k),
			text: `c${c}-${k}`,
		}))
	);
	let next = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			for (let q = next++; q < queues.length; q = next++) {
				for (const e of queues[q]) {
					const body = JSON.stringify(
						dmPayload({ forUserId: ACCOUNT_X_ID, eventId: e.eventId, senderId: e.customer, recipientId: ACCOUNT_X_ID, text: e.text })
					);
					const post: Post = { eventId: e.eventId, startedAt: Date.now(), status: null };
					posts.push(post);
					const res = await fetch(`${w.gatewayUrl}/api/v1/mkt-x/webhooks/twitter`, {
						method: "POST",
						headers: { "content-type": "application/json", "x-twitter-webhooks-signature": xSignature(body) },
						body,
						signal: AbortSignal.timeout(15_000),
					}).catch(() => null);
					post.status = res?.status ?? null;
					await res?.arrayBuffer().catch(() => {});
					if (post.status === 200 && ++acked === Math.round(EVENTS / 3)) faultDone = during();
				}
			}
		})
	);
	return { posts, faultDone: faultDone ?? Promise.resolve() };
}

async function settle(w: World, posts: Post[], label: string) {
	const ackedIds = new Set(posts.filter(p => p.status === 200).map(p => p.eventId));
	// Drained: nothing queued and no delivery waiting for its hand-over.
	await waitUntil(
		async () => {
			const [queued, pending] = await Promise.all([
				w.db.collection("inbox_activity").countDocuments({}),
				w.db.collection("webhook_deliveries").countDocuments({ status: "pending" }),
			]);
			if (pending) await w.observer.call("webhooks.sweep", { olderThanMs: 0 }, { timeout: 30_000 }).catch(() => {});
			return queued === 0 && pending === 0;
		},
		150_000,
		`${label}: backlog drained`
	);
	const stored = await w.db
		.collection("messages")
		.find({ merchantId: "m-faults" }, { projection: { twitterMessageId: 1 } })
		.toArray();
	const storedIds = stored.map(m => m.twitterMessageId as string);
	const distinct = new Set(storedIds);
	const counts = {
		acknowledged: ackedIds.size,
		refused: posts.length - ackedIds.size,
		stored: distinct.size,
		duplicated: storedIds.length - distinct.size,
		lost: [...ackedIds].filter(id => !distinct.has(id)).length,
	};
	console.log(`${label}: ${JSON.stringify(counts)}`);
	expect(counts.acknowledged).toBeGreaterThan(0);
	expect(counts.duplicated).toBe(0);
	expect(counts.lost).toBe(0);
	await w.observer.stop();
	await w.db.dropDatabase().catch(() => {});
	await w.db.close();
	return counts;
}

test(
	"the inbox node stopped (SIGTERM) during a burst: its batch ends, another node drains the rest",
	async () => {
		const w = await world();
		const first = running[1];
		let stopSeconds = 0;
		const { posts, faultDone } = await burst(w, async () => {
			const signalAt = Date.now();
			first.signal("SIGTERM");
			const { at, code } = await first.exited;
			stopSeconds = (at - signalAt) / 1000;
			expect(code).toBe(0);
			w.start("inbox-2", "inbox,contacts");
		});
		await faultDone;
		// The batch in flight ended and the node stopped within the drain time (10 s of in-flight work).
		expect(stopSeconds).toBeLessThan(15);
		await settle(w, posts, "inbox node SIGTERM");
	},
	MINUTES
);

test(
	"the inbox node killed (SIGKILL) during a burst: its accounts are taken over when its lease ends",
	async () => {
		const w = await world();
		const first = running[1];
		const { posts, faultDone } = await burst(w, async () => {
			first.signal("SIGKILL");
			await first.exited;
			w.start("inbox-2", "inbox,contacts");
		});
		await faultDone;
		await settle(w, posts, "inbox node SIGKILL");
	},
	MINUTES
);

test(
	"the database stalled (SIGSTOP) for 5 s during a burst: what was acknowledged is stored once",
	async () => {
		const w = await world();
		const { posts, faultDone } = await burst(w, async () => {
			ferret.process!.kill("SIGSTOP");
			await new Promise(r => setTimeout(r, 5000));
			ferret.process!.kill("SIGCONT");
		});
		await faultDone;
		await settle(w, posts, "database SIGSTOP 5 s");
	},
	MINUTES
);

test(
	"the database killed during a burst and started again: what was acknowledged is stored once",
	async () => {
		const w = await world();
		const { posts, faultDone } = await burst(w, async () => {
			const old = ferret.process!;
			const gone = new Promise(r => old.once("exit", r));
			old.kill("SIGKILL");
			await gone;
			await new Promise(r => setTimeout(r, 1000));
			ferret = await startDatabase();
		});
		await faultDone;
		await settle(w, posts, "database SIGKILL and restart");
	},
	MINUTES
);

test(
	"the gateway stopped (SIGTERM) during a burst: nothing is accepted after the signal, nothing acknowledged is lost",
	async () => {
		const w = await world();
		const gateway = running[0];
		let signalAt = 0;
		const { posts, faultDone } = await burst(w, async () => {
			signalAt = Date.now();
			gateway.signal("SIGTERM");
			await gateway.exited;
			// Another gateway node takes over the webhooks service (and its sweeper).
			w.start("gateway-2", "api,accounts,webhooks");
			await w.observer.waitForServices(["webhooks"], 60_000);
		});
		await faultDone;
		// The node drains from the moment its signal handler runs (a busy event loop may take a moment):
		// from its first refusal on, nothing started later is accepted.
		const firstRefusal = Math.min(...posts.filter(p => p.status !== 200 && p.startedAt >= signalAt).map(p => p.startedAt));
		const acceptedAfter = posts.filter(p => p.status === 200 && p.startedAt > firstRefusal).map(p => p.startedAt - signalAt);
		console.log(`gateway SIGTERM: draining ${firstRefusal - signalAt} ms after the signal`);
		expect(acceptedAfter).toEqual([]);
		expect((await gateway.exited).at - signalAt).toBeLessThan(15_000);
		await settle(w, posts, "gateway SIGTERM");
	},
	MINUTES
);
