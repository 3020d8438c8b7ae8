import { createHmac, randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startReceiver, type Receiver, type Received } from "../helpers/https-receiver.ts";
import { clock } from "../../services/outbound-webhooks/clock.ts";
import { WebhookSubscriptionModel } from "../../models/webhook-subscription.model.ts";
import { OutboundDeliveryModel } from "../../models/outbound-delivery.model.ts";

// Outbound webhooks through the real gateway, against a local HTTPS receiver whose CA the
// service trusts through WEBHOOK_CA_FILE. Events are the broker events other services emit,
// with their payloads. Time moves on the service's clock; the worker is swept explicitly (its
// timer is set to a minute) so every retry happens when the test says.

let receiver: Receiver;
let node: TestNode;
let t0 = Date.now();

beforeAll(async () => {
	receiver = await startReceiver();
	process.env.WEBHOOK_ALLOW_PRIVATE_HOSTS = "true";
	process.env.WEBHOOK_CA_FILE = receiver.caFile;
	process.env.WEBHOOK_TIMEOUT_MS = "500";
	process.env.WEBHOOK_POLL_MS = "60000";
	useFreshDatabase("outhooks");
	node = await startNode({ services: ["api", "outbound-webhooks"] });
});

afterAll(async () => {
	clock.now = () => new Date();
	await node.stop();
	await receiver.close();
	await dropDatabase();
	for (const name of ["WEBHOOK_ALLOW_PRIVATE_HOSTS", "WEBHOOK_CA_FILE", "WEBHOOK_TIMEOUT_MS", "WEBHOOK_POLL_MS"]) delete process.env[name];
});

beforeEach(() => {
	t0 = Date.now();
	clock.now = () => new Date(t0);
	receiver.answer = () => ({ status: 200 });
});

const at = (ms: number) => {
	clock.now = () => new Date(t0 + ms);
};
const sweep = () => node.broker.call("outbound-webhooks.sweep");
const api = (merchantId: string) => client(node.url, tokenFor(merchantId));
const on = (path: string) => receiver.received.filter(r => r.path === path);

async function subscribe(merchantId: string, path: string, events: string[]) {
	const res = await api(merchantId).post("/webhook-subscriptions", { url: `${receiver.url}${path}`, events });
	expect(res.status).toBe(200);
	return res.body.data as { id: string; secret: string };
}

/** The receiver's own check, written from the docs rather than from the service's code. */
function verify(r: Received, secret: string): boolean {
	const timestamp = String(r.headers["x-mktx-timestamp"]);
	const expected = createHmac("sha256", secret).update(`${timestamp}.${r.raw}`).digest("hex");
	return String(r.headers["x-mktx-signature"])
		.split(",")
		.some(part => part.trim() === `sha256=${expected}`);
}

async function deliveries(merchantId: string, subId: string) {
	const res = await api(merchantId).get(`/webhook-subscriptions/${subId}/deliveries?take=100`);
	expect(res.status).toBe(200);
	return res.body.data as any[];
}

describe("POST /webhook-subscriptions", () => {
	test("the secret is shown once, stored encrypted, and never listed", async () => {
		const sub = await subscribe("m-oh-secret", "/secret", ["message.received"]);
		expect(sub.secret).toMatch(/^whsec_[A-Za-z0-9_-]{40,}$/);
		const stored = await WebhookSubscriptionModel.findById(sub.id).lean();
		expect(stored!.secret).toMatch(/^v1:/);
		expect(stored!.secret).not.toContain(sub.secret.slice(6));
		const listed = await api("m-oh-secret").get("/webhook-subscriptions");
		expect(listed.body.data).toHaveLength(1);
		expect(JSON.stringify(listed.body)).not.toContain(sub.secret);
		const one = await api("m-oh-secret").get(`/webhook-subscriptions/${sub.id}`);
		expect(one.body.data).toMatchObject({ id: sub.id, status: "active", events: ["message.received"] });
		expect(one.body.data.secret).toBeUndefined();
	});

	test("refuses a plain http URL that is not loopback, an unknown event type, and an 11th subscription", async () => {
		const bad = await api("m-oh-limit").post("/webhook-subscriptions", { url: "http://example.com/hook", events: ["message.received"] });
		expect(bad.status).toBe(422);
		expect(bad.body).toMatchObject({ success: false, errorCode: "VALIDATION_ERROR", details: [{ field: "url" }] });
		const unknown = await api("m-oh-limit").post("/webhook-subscriptions", { url: `${receiver.url}/x`, events: ["message.deleted"] });
		expect(unknown.status).toBe(422);
		for (let i = 0; i < 10; i++) await subscribe("m-oh-limit", `/limit-${i}`, ["contact.created"]);
		const eleventh = await api("m-oh-limit").post("/webhook-subscriptions", {
			url: `${receiver.url}/limit-10`,
			events: ["contact.created"],
		});
		expect(eleventh.status).toBe(422);
		expect(eleventh.body.errorCode).toBe("SUBSCRIPTION_LIMIT");
		expect(await WebhookSubscriptionModel.countDocuments({ merchantId: "m-oh-limit" })).toBe(10);
	});
});

describe("delivery", () => {
	test("an event reaches the subscriptions that asked for it, signed, once even when emitted twice", async () => {
		const narrow = await subscribe("m-oh-sign", "/sign-narrow", ["conversation.assigned"]);
		const wide = await subscribe("m-oh-sign", "/sign-wide", ["conversation.assigned", "conversation.closed"]);
		const conversationId = randomUUID();
		const assigned = { merchantId: "m-oh-sign", conversationId, contactId: randomUUID(), userId: "agent-7", byUserId: "lead-1" };
		node.broker.emit("conversation.assigned", assigned);
		node.broker.emit("conversation.assigned", assigned); // the same event again
		node.broker.emit("conversation.closed", { merchantId: "m-oh-sign", conversationId, reason: "done", closedByUserId: "agent-7" });
		node.broker.emit("conversation.assigned", { ...assigned, merchantId: "m-oh-other" }); // nobody of that merchant listens
		await waitUntil(() => on("/sign-wide").length === 2 && on("/sign-narrow").length === 1, 10_000, "deliveries");

		const got = on("/sign-narrow")[0];
		expect(verify(got, narrow.secret)).toBe(true);
		expect(verify(got, wide.secret)).toBe(false);
		expect(got.headers["content-type"]).toBe("application/json");
		expect(got.headers["x-mktx-event-id"]).toBe(got.body.id);
		expect(Math.abs(Number(got.headers["x-mktx-timestamp"]) - Date.now() / 1000)).toBeLessThan(300);
		expect(got.body).toEqual({
			id: expect.stringMatching(/^evt_/),
			type: "conversation.assigned",
			createdAt: new Date(t0).toISOString(),
			merchantId: "m-oh-sign",
			data: { conversationId, contactId: assigned.contactId, userId: "agent-7", byUserId: "lead-1" },
		});
		expect(on("/sign-wide").map(r => r.body.type)).toEqual(["conversation.assigned", "conversation.closed"]);
		expect(on("/sign-wide").every(r => verify(r, wide.secret))).toBe(true);
		// the same event id for both subscriptions: one event
		expect(on("/sign-wide")[0].body.id).toBe(got.body.id);

		const listed = await deliveries("m-oh-sign", narrow.id);
		expect(listed).toHaveLength(1);
		expect(listed[0]).toMatchObject({
			status: "delivered",
			attempts: 1,
			lastStatusCode: 200,
			type: "conversation.assigned",
			nextAttemptAt: null,
		});
		expect(listed[0].lastLatencyMs).toEqual(expect.any(Number));
	});

	test("a conversation's events wait behind one that failed with a 500, then arrive in order", async () => {
		const sub = await subscribe("m-oh-order", "/order", ["message.received", "message.sent"]);
		const a = randomUUID();
		const b = randomUUID();
		receiver.answer = r =>
			r.path === "/order" && r.body.data.messageId === "a1" && on("/order").filter(x => x.body.data.messageId === "a1").length === 1
				? { status: 500 }
				: { status: 200 };
		for (const [conversationId, messageId, name] of [
			[a, "a1", "message.received"],
			[a, "a2", "message.sent"],
			[a, "a3", "message.received"],
			[b, "b1", "message.received"],
		]) {
			node.broker.emit(name, {
				merchantId: "m-oh-order",
				accountId: "acc",
				contactId: "c",
				conversationId,
				messageId,
				content: messageId,
				at: new Date(t0).toISOString(),
			});
		}
		await waitUntil(() => on("/order").some(r => r.body.data.messageId === "b1"), 10_000, "the other conversation's event");
		await waitUntil(
			async () => (await deliveries("m-oh-order", sub.id)).some(d => d.payload.data.messageId === "a1" && d.attempts === 1),
			10_000,
			"a1 failed once"
		);
		await sweep();
		expect(
			on("/order")
				.map(r => r.body.data.messageId)
				.filter(id => id !== "b1")
		).toEqual(["a1"]);
		const a1 = (await deliveries("m-oh-order", sub.id)).find(d => d.payload.data.messageId === "a1");
		expect(a1).toMatchObject({ status: "pending", lastStatusCode: 500, lastError: "HTTP 500" });
		expect(new Date(a1.nextAttemptAt).getTime() - t0).toBeGreaterThanOrEqual(2_500);

		at(10 * 60_000);
		await sweep();
		await waitUntil(() => on("/order").length === 5, 10_000, "the rest");
		expect(
			on("/order")
				.filter(r => r.body.data.conversationId === a)
				.map(r => r.body.data.messageId)
		).toEqual(["a1", "a1", "a2", "a3"]);
		expect((await deliveries("m-oh-order", sub.id)).every(d => d.status === "delivered")).toBe(true);
	});

	test("an answer that does not come within the timeout is retried", async () => {
		const sub = await subscribe("m-oh-timeout", "/slow", ["contact.created"]);
		receiver.answer = () => (on("/slow").length === 1 ? { hang: true } : { status: 204 });
		node.broker.emit("contact.created", {
			merchantId: "m-oh-timeout",
			accountId: "acc",
			contactId: randomUUID(),
			source: "inbound_message",
		});
		await waitUntil(async () => (await deliveries("m-oh-timeout", sub.id))[0]?.attempts === 1, 10_000, "first attempt");
		expect((await deliveries("m-oh-timeout", sub.id))[0]).toMatchObject({
			status: "pending",
			lastStatusCode: null,
			lastError: "no answer within 500 ms",
		});
		at(60_000);
		await sweep();
		expect((await deliveries("m-oh-timeout", sub.id))[0]).toMatchObject({ status: "delivered", attempts: 2, lastStatusCode: 204 });
		expect(on("/slow")).toHaveLength(2);
		expect(on("/slow")[0].body.id).toBe(on("/slow")[1].body.id);
	});

	test("a 429 is retried when its Retry-After says, not before", async () => {
		const sub = await subscribe("m-oh-429", "/busy", ["campaign.started"]);
		receiver.answer = () => (on("/busy").length === 1 ? { status: 429, headers: { "retry-after": "120" } } : { status: 200 });
		node.broker.emit("campaign.started", { merchantId: "m-oh-429", campaignId: randomUUID(), total: 10 });
		await waitUntil(async () => (await deliveries("m-oh-429", sub.id))[0]?.attempts === 1, 10_000, "first attempt");
		expect((await deliveries("m-oh-429", sub.id))[0]).toMatchObject({
			status: "pending",
			lastStatusCode: 429,
			nextAttemptAt: new Date(t0 + 120_000).toISOString(),
		});
		at(119_000);
		await sweep();
		expect(on("/busy")).toHaveLength(1);
		at(120_000);
		await sweep();
		expect(on("/busy")).toHaveLength(2);
		expect((await deliveries("m-oh-429", sub.id))[0]).toMatchObject({ status: "delivered", attempts: 2 });
	});

	test("a subscription failing for 24 h is disabled with the reason shown; re-enabled, a delivery can be sent again", async () => {
		const merchant = "m-oh-down";
		const sub = await subscribe(merchant, "/down", ["contact.opted_out", "contact.erased"]);
		let up = false;
		receiver.answer = r => (r.path === "/down" && !up ? { status: 503 } : { status: 200 });
		const contactA = randomUUID();
		node.broker.emit("contact.optedOut", { merchantId: merchant, contactId: contactA, at: new Date(t0).toISOString() });
		await waitUntil(async () => (await WebhookSubscriptionModel.findById(sub.id).lean())?.failingSince != null, 10_000, "first failure");
		expect((await api(merchant).get(`/webhook-subscriptions/${sub.id}`)).body.data).toMatchObject({
			status: "active",
			failingSince: new Date(t0).toISOString(),
		});

		at(2 * 3600_000);
		node.broker.emit("contact.erased", { merchantId: merchant, contactId: randomUUID() });
		await waitUntil(
			async () => (await deliveries(merchant, sub.id)).length === 2 && (await deliveries(merchant, sub.id)).every(d => d.attempts >= 1),
			10_000,
			"both tried"
		);
		await sweep();
		expect((await api(merchant).get(`/webhook-subscriptions/${sub.id}`)).body.data.status).toBe("active");

		at(24 * 3600_000 + 1000);
		await sweep();
		const disabled = (await api(merchant).get(`/webhook-subscriptions/${sub.id}`)).body.data;
		expect(disabled).toMatchObject({ status: "disabled", disabledAt: new Date(t0 + 24 * 3600_000 + 1000).toISOString() });
		expect(disabled.disabledReason).toContain("HTTP 503");
		// no more attempts while disabled, every delivery failed, and no redelivery until re-enabled
		const tries = on("/down").length;
		at(30 * 3600_000);
		await sweep();
		expect(on("/down")).toHaveLength(tries);
		const rows = await deliveries(merchant, sub.id);
		expect(rows.map(d => d.status)).toEqual(["failed", "failed"]);
		const optedOut = rows.find(d => d.type === "contact.opted_out");
		expect((await api(merchant).post(`/webhook-subscriptions/${sub.id}/deliveries/${optedOut.id}/redeliver`)).status).toBe(409);

		up = true;
		const enabled = await api(merchant).put(`/webhook-subscriptions/${sub.id}`, { enabled: true });
		expect(enabled.body.data).toMatchObject({ status: "active", disabledReason: null, failingSince: null });
		const again = await api(merchant).post(`/webhook-subscriptions/${sub.id}/deliveries/${optedOut.id}/redeliver`);
		expect(again.status).toBe(200);
		await waitUntil(
			async () => (await deliveries(merchant, sub.id)).find(d => d.id === optedOut.id)?.status === "delivered",
			10_000,
			"redelivered"
		);
		expect(on("/down").at(-1)!.body).toMatchObject({ type: "contact.opted_out", data: { contactId: contactA } });
	});

	test("a delivered event can be delivered again on request, with the same event id", async () => {
		const sub = await subscribe("m-oh-again", "/again", ["flow.run.completed"]);
		node.broker.emit("flow.run.completed", {
			merchantId: "m-oh-again",
			flowId: randomUUID(),
			runId: randomUUID(),
			contactId: randomUUID(),
			at: new Date(t0).toISOString(),
		});
		await waitUntil(() => on("/again").length === 1, 10_000, "delivered");
		const [d] = await deliveries("m-oh-again", sub.id);
		const res = await api("m-oh-again").post(`/webhook-subscriptions/${sub.id}/deliveries/${d.id}/redeliver`);
		expect(res.status).toBe(200);
		await waitUntil(() => on("/again").length === 2, 10_000, "redelivered");
		expect(on("/again")[1].body.id).toBe(on("/again")[0].body.id);
		await waitUntil(async () => (await deliveries("m-oh-again", sub.id))[0].status === "delivered", 10_000, "recorded");
		expect((await deliveries("m-oh-again", sub.id))[0].attempts).toBe(2);
	});

	test("POST …/test sends a signed ping and answers with its outcome", async () => {
		const sub = await subscribe("m-oh-ping", "/ping", ["message.received"]);
		const res = await api("m-oh-ping").post(`/webhook-subscriptions/${sub.id}/test`);
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({ type: "ping", status: "delivered", attempts: 1, lastStatusCode: 200 });
		expect(on("/ping")).toHaveLength(1);
		expect(on("/ping")[0].body).toMatchObject({ type: "ping", merchantId: "m-oh-ping", data: { subscriptionId: sub.id } });
		expect(verify(on("/ping")[0], sub.secret)).toBe(true);

		receiver.answer = () => ({ status: 404 });
		const failed = await api("m-oh-ping").post(`/webhook-subscriptions/${sub.id}/test`);
		expect(failed.body.data).toMatchObject({
			type: "ping",
			status: "failed",
			lastStatusCode: 404,
			lastError: "HTTP 404",
			nextAttemptAt: null,
		});
	});

	test("after a rotation both secrets sign until the grace period ends; without one only the new", async () => {
		const sub = await subscribe("m-oh-rotate", "/rotate", ["message.received"]);
		const rotated = await api("m-oh-rotate").post(`/webhook-subscriptions/${sub.id}/rotate-secret`, { graceSeconds: 3600 });
		expect(rotated.status).toBe(200);
		const next = rotated.body.data.secret as string;
		expect(next).not.toBe(sub.secret);
		expect(rotated.body.data.previousSecretExpiresAt).toBe(new Date(t0 + 3600_000).toISOString());
		await api("m-oh-rotate").post(`/webhook-subscriptions/${sub.id}/test`);
		const [during] = on("/rotate");
		expect(verify(during, next) && verify(during, sub.secret)).toBe(true);

		at(3600_000 + 1);
		await api("m-oh-rotate").post(`/webhook-subscriptions/${sub.id}/test`);
		const after = on("/rotate")[1];
		expect(verify(after, next)).toBe(true);
		expect(verify(after, sub.secret)).toBe(false);

		const third = (await api("m-oh-rotate").post(`/webhook-subscriptions/${sub.id}/rotate-secret`, { graceSeconds: 0 })).body.data.secret;
		await api("m-oh-rotate").post(`/webhook-subscriptions/${sub.id}/test`);
		expect(String(on("/rotate")[2].headers["x-mktx-signature"]).split(",")).toHaveLength(1);
		expect(verify(on("/rotate")[2], third)).toBe(true);
		expect(verify(on("/rotate")[2], next)).toBe(false);
	});
});

describe("tenancy", () => {
	test("another merchant's subscription and deliveries answer 404, as missing ones do", async () => {
		const sub = await subscribe("m-oh-owner", "/owned", ["message.received"]);
		await api("m-oh-owner").post(`/webhook-subscriptions/${sub.id}/test`);
		const [d] = await deliveries("m-oh-owner", sub.id);
		const other = api("m-oh-intruder");
		for (const res of [
			await other.get(`/webhook-subscriptions/${sub.id}`),
			await other.put(`/webhook-subscriptions/${sub.id}`, { events: ["message.sent"] }),
			await other.get(`/webhook-subscriptions/${sub.id}/deliveries`),
			await other.post(`/webhook-subscriptions/${sub.id}/deliveries/${d.id}/redeliver`),
			await other.post(`/webhook-subscriptions/${sub.id}/test`),
			await other.post(`/webhook-subscriptions/${sub.id}/rotate-secret`),
			await other.del(`/webhook-subscriptions/${sub.id}`),
			await other.get(`/webhook-subscriptions/${randomUUID()}`),
		]) {
			expect(res.status).toBe(404);
			expect(res.body).toMatchObject({ success: false, errorCode: "NOT_FOUND" });
		}
		expect((await other.get("/webhook-subscriptions")).body.data).toEqual([]);
		// a delivery id of another subscription, even the caller's own, is not found under this one
		const mine = await subscribe("m-oh-intruder", "/intruder", ["message.received"]);
		expect((await other.post(`/webhook-subscriptions/${mine.id}/deliveries/${d.id}/redeliver`)).status).toBe(404);
		expect(on("/owned")).toHaveLength(1);

		const removed = await api("m-oh-owner").del(`/webhook-subscriptions/${sub.id}`);
		expect(removed.status).toBe(200);
		expect(await OutboundDeliveryModel.countDocuments({ subscriptionId: sub.id })).toBe(0);
	});
});

describe("GET /openapi.json", () => {
	test("documents the webhook subscription routes with their parameters", async () => {
		const res = await client(node.url).get("/openapi.json");
		expect(res.status).toBe(200);
		const paths = res.body.paths as Record<string, Record<string, any>>;
		for (const [path, method] of [
			["/webhook-subscriptions", "post"],
			["/webhook-subscriptions", "get"],
			["/webhook-subscriptions/{id}", "get"],
			["/webhook-subscriptions/{id}", "put"],
			["/webhook-subscriptions/{id}", "delete"],
			["/webhook-subscriptions/{id}/rotate-secret", "post"],
			["/webhook-subscriptions/{id}/deliveries", "get"],
			["/webhook-subscriptions/{id}/deliveries/{deliveryId}/redeliver", "post"],
			["/webhook-subscriptions/{id}/test", "post"],
		]) {
			const key = Object.keys(paths).find(p => p.endsWith(path));
			expect([path, key && paths[key][method] ? "documented" : "missing"]).toEqual([path, "documented"]);
		}
		const create = paths[Object.keys(paths).find(p => p.endsWith("/webhook-subscriptions"))!].post;
		expect(JSON.stringify(create)).toContain("conversation.escalated");
	});
});
