import { randomBytes } from "node:crypto";
import {
	dropDatabase,
	NATS_URL,
	startNode,
	tokenFor,
	useFreshDatabase,
	waitForAliases,
	waitUntil,
	type TestNode,
} from "../helpers/node.ts";
import { dmPayload, postWebhook, TEST_CONSUMER_SECRET } from "../helpers/x-events.ts";
import { createAccount } from "../helpers/accounts.ts";
import { MessageModel } from "../../models/message.model.ts";

// Server-Sent Events across nodes: a webhook posted to one gateway, processed on a core node,
// reaches a dashboard connected to another gateway; only the token's merchant's events; resume
// with Last-Event-ID on a different gateway.

process.env.X_CONSUMER_SECRET = TEST_CONSUMER_SECRET;
useFreshDatabase("live");

interface Frame {
	id?: string;
	event?: string;
	data?: any;
	comment?: string;
}

/** A minimal SSE reader on fetch's stream: frames as they arrive. */
async function openStream(baseUrl: string, token: string, lastEventId?: string) {
	const controller = new AbortController();
	const res = await fetch(`${baseUrl}/api/v1/mkt-x/events`, {
		headers: { Authorization: `Bearer ${token}`, ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
		signal: controller.signal,
	});
	const frames: Frame[] = [];
	const decoder = new TextDecoder();
	let buffer = "";
	const reading = (async () => {
		try {
			for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
				buffer += decoder.decode(chunk, { stream: true });
				let end;
				while ((end = buffer.indexOf("\n\n")) >= 0) {
					const raw = buffer.slice(0, end);
					buffer = buffer.slice(end + 2);
					const frame: Frame = {};
					for (const line of raw.split("\n")) {
						if (line.startsWith(":")) frame.comment = line.slice(1).trim();
						else if (line.startsWith("id: ")) frame.id = line.slice(4);
						else if (line.startsWith("event: ")) frame.event = line.slice(7);
						else if (line.startsWith("data: ")) frame.data = JSON.parse(line.slice(6));
					}
					frames.push(frame);
				}
			}
		} catch {
			// aborted
		}
	})();
	const stream = {
		status: res.status,
		contentType: res.headers.get("content-type"),
		frames,
		events: () => frames.filter(f => f.event),
		close: async () => {
			controller.abort();
			await reading;
		},
	};
	open.push(stream);
	return stream;
}

let core: TestNode;
let gatewayA: TestNode;
let gatewayB: TestNode;
beforeAll(async () => {
	const overrides = { api: { settings: { liveHeartbeatMs: 200 } } };
	core = await startNode({
		services: ["accounts", "webhooks", "inbox", "contacts"],
		transporter: NATS_URL,
		nodeID: `core-live-${randomBytes(2).toString("hex")}`,
	});
	gatewayA = await startNode({
		services: ["api"],
		transporter: NATS_URL,
		nodeID: `gw-live-a-${randomBytes(2).toString("hex")}`,
		overrides,
	});
	gatewayB = await startNode({
		services: ["api"],
		transporter: NATS_URL,
		nodeID: `gw-live-b-${randomBytes(2).toString("hex")}`,
		overrides,
	});
	await waitForAliases(gatewayA.broker, ["inbox.list"]);
	await waitForAliases(gatewayB.broker, ["inbox.list"]);
	// Both gateways' relays are subscribed, as the core node sees it.
	await waitUntil(
		() => core.broker.registry.getServiceList({}).filter((s: { name: string }) => s.name.startsWith("live-relay-")).length === 2,
		10_000,
		"relays known to the core node"
	);
});
const open: { close(): Promise<void> }[] = [];
afterAll(async () => {
	await Promise.all(open.map(s => s.close()));
	await gatewayA.stop();
	await gatewayB.stop();
	await core.stop();
	await dropDatabase();
});

let seq = 0;
const write = (accountUserId: string, customer: string, text: string) =>
	postWebhook(
		gatewayB.url,
		dmPayload({ forUserId: accountUserId, eventId: `${Date.now()}${++seq}`, senderId: customer, recipientId: accountUserId, text })
	);

test("a dashboard gets its merchant's events from another node, never another merchant's, and resumes on another gateway", async () => {
	const { account: m1 } = await createAccount("m-live-1");
	const { account: m2 } = await createAccount("m-live-2");
	const s1 = await openStream(gatewayA.url, tokenFor("m-live-1"));
	const s2 = await openStream(gatewayA.url, tokenFor("m-live-2"));
	expect(s1.status).toBe(200);
	expect(s1.contentType).toMatch(/text\/event-stream/);

	expect((await write(m1.twitterUserId, "111", "hello from m1's customer")).status).toBe(200);
	await waitUntil(() => s1.events().some(f => f.event === "message.received"), 30_000, "m1 message.received");
	expect(s1.events().map(f => f.event)).toEqual(expect.arrayContaining(["contact.created", "conversation.created", "message.received"]));
	expect(s1.events().find(f => f.event === "message.received")!.data).toMatchObject({
		merchantId: "m-live-1",
		content: "hello from m1's customer",
	});

	expect((await write(m2.twitterUserId, "222", "for m2 only")).status).toBe(200);
	await waitUntil(() => s2.events().some(f => f.event === "message.received"), 30_000, "m2 message.received");
	expect(s1.events().every(f => f.data.merchantId === "m-live-1")).toBe(true);
	expect(s2.events().every(f => f.data.merchantId === "m-live-2")).toBe(true);
	await waitUntil(() => s1.frames.some(f => f.comment === "heartbeat"), 5000, "heartbeat");

	// The dashboard drops; meanwhile more happens; it reconnects to the other gateway.
	const lastSeen = s1.events().at(-1)!.id!;
	await s1.close();
	await write(m1.twitterUserId, "111", "while you were away");
	await waitUntil(async () => (await MessageModel.countDocuments({ content: "while you were away" })) === 1, 30_000, "stored");
	const resumed = await openStream(gatewayB.url, tokenFor("m-live-1"), lastSeen);
	await waitUntil(() => resumed.events().some(f => f.event === "message.received"), 10_000, "replayed event");
	const replayed = resumed.events().filter(f => f.event === "message.received");
	expect(replayed.map(f => f.data.content)).toEqual(["while you were away"]);
	expect(resumed.events().some(f => f.id === lastSeen)).toBe(false);
	await resumed.close();
	await s2.close();
}, 120_000);

test("a reconnect with an unknown Last-Event-ID is told to resync", async () => {
	const s = await openStream(gatewayA.url, tokenFor("m-live-3"), "no-such-event");
	await waitUntil(() => s.events().some(f => f.event === "resync"), 5000, "resync");
	await s.close();
});

test("the stream needs a token", async () => {
	const res = await fetch(`${gatewayA.url}/api/v1/mkt-x/events`);
	expect(res.status).toBe(401);
});
