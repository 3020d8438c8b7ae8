import { randomBytes, randomUUID } from "node:crypto";
import {
	client,
	dropDatabase,
	NATS_URL,
	startNode,
	tokenFor,
	useFreshDatabase,
	waitForAliases,
	waitUntil,
	type TestNode,
} from "../helpers/node.ts";
import { startReceiver, type Receiver } from "../helpers/https-receiver.ts";
import { clock } from "../../services/outbound-webhooks/clock.ts";
import { deliveryIdOf } from "../../services/outbound-webhooks/store.ts";
import { eventId } from "../../mixins/live-events.mixin.ts";
import { OutboundAttemptModel } from "../../models/outbound-attempt.model.ts";
import { OutboundDeliveryModel } from "../../models/outbound-delivery.model.ts";

// Deliveries survive a worker: two worker nodes and a gateway over NATS. A worker stopped while
// its POST is in flight gives the attempt back and the other sends it; a claim left by a node
// that died without a word is taken over once it is stale (the clock moves, nobody sleeps).

let receiver: Receiver;
let gateway: TestNode;
const workers = new Map<string, TestNode>();
const tag = randomBytes(2).toString("hex");

beforeAll(async () => {
	receiver = await startReceiver();
	process.env.WEBHOOK_ALLOW_PRIVATE_HOSTS = "true";
	process.env.WEBHOOK_CA_FILE = receiver.caFile;
	process.env.WEBHOOK_TIMEOUT_MS = "5000";
	process.env.WEBHOOK_POLL_MS = "100";
	useFreshDatabase("outhooks_nodes");
	for (const id of ["w1", "w2"]) {
		const nodeID = `oh-${id}-${tag}`;
		workers.set(nodeID, await startNode({ services: ["outbound-webhooks"], transporter: NATS_URL, nodeID }));
	}
	gateway = await startNode({ services: ["api"], transporter: NATS_URL, nodeID: `oh-gw-${tag}` });
	await waitForAliases(gateway.broker, ["outbound-webhooks.create"]);
});

afterAll(async () => {
	clock.now = () => new Date();
	await gateway.stop();
	for (const w of workers.values()) await w.stop();
	await receiver.close();
	await dropDatabase();
	for (const name of ["WEBHOOK_ALLOW_PRIVATE_HOSTS", "WEBHOOK_CA_FILE", "WEBHOOK_TIMEOUT_MS", "WEBHOOK_POLL_MS"]) delete process.env[name];
});

const api = () => client(gateway.url, tokenFor("m-oh-nodes"));
const on = (path: string) => receiver.received.filter(r => r.path === path);

async function subscribe(path: string) {
	const res = await api().post("/webhook-subscriptions", { url: `${receiver.url}${path}`, events: ["message.received"] });
	expect(res.status).toBe(200);
	return res.body.data.id as string;
}

const message = () => ({
	merchantId: "m-oh-nodes",
	accountId: "acc",
	contactId: randomUUID(),
	conversationId: randomUUID(),
	messageId: randomUUID(),
	content: "hi",
	at: new Date().toISOString(),
});

test("a worker stopped while its POST is in flight leaves the event to the other, which delivers it", async () => {
	const subId = await subscribe("/handover");
	receiver.answer = () => (on("/handover").length === 1 ? { hang: true } : { status: 200 });
	gateway.broker.emit("message.received", message());
	await waitUntil(() => on("/handover").length === 1, 10_000, "the first POST");
	const [claim] = await OutboundAttemptModel.find({ subscriptionId: subId }).lean();
	const holder = workers.get(claim.nodeID!)!;
	await holder.stop();
	workers.delete(claim.nodeID!);

	await waitUntil(
		async () => (await OutboundDeliveryModel.findOne({ subscriptionId: subId }).lean())?.status === "delivered",
		10_000,
		"delivered by the other node"
	);
	expect(on("/handover")).toHaveLength(2);
	expect(on("/handover")[1].body.id).toBe(on("/handover")[0].body.id);
	// The attempt's own outcome is written just after the delivery's.
	await waitUntil(
		async () => (await OutboundAttemptModel.find({ subscriptionId: subId }).lean())[0]?.statusCode === 200,
		10_000,
		"the attempt's outcome"
	);
	const attempts = await OutboundAttemptModel.find({ subscriptionId: subId }).lean();
	expect(attempts).toHaveLength(1);
	expect(attempts[0]).toMatchObject({ statusCode: 200, nodeID: [...workers.keys()][0] });
	expect((await api().get(`/webhook-subscriptions/${subId}/deliveries`)).body.data[0]).toMatchObject({ status: "delivered", attempts: 1 });
}, 30_000);

test("a claim left by a node that died is taken over once stale, and only then", async () => {
	const subId = await subscribe("/orphan");
	const params = message();
	const deliveryId = deliveryIdOf(subId, `evt_${eventId("message.received", params)}`);
	const t0 = Date.now();
	clock.now = () => new Date(t0);
	await OutboundAttemptModel.create({
		_id: `${deliveryId}:1`,
		deliveryId,
		subscriptionId: subId,
		attempt: 1,
		token: randomUUID(),
		nodeID: "dead-node",
		claimedAt: new Date(t0),
	});
	gateway.broker.emit("message.received", params);
	await waitUntil(async () => (await OutboundDeliveryModel.countDocuments({ _id: deliveryId })) === 1, 10_000, "stored");
	const [survivor] = workers.values();
	await survivor.broker.call("outbound-webhooks.sweep");
	expect(on("/orphan")).toHaveLength(0);
	expect((await OutboundDeliveryModel.findById(deliveryId).lean())!.status).toBe("pending");

	clock.now = () => new Date(t0 + 60_000); // past 2 × the timeout + 30 s
	await survivor.broker.call("outbound-webhooks.sweep");
	await waitUntil(async () => (await OutboundDeliveryModel.findById(deliveryId).lean())?.status === "delivered", 10_000, "taken over");
	expect(on("/orphan")).toHaveLength(1);
	expect(await OutboundAttemptModel.findById(`${deliveryId}:1`).lean()).toMatchObject({ nodeID: survivor.broker.nodeID, statusCode: 200 });
}, 30_000);
