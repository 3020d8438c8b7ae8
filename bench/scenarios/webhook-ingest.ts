import http, { type Server } from "node:http";
import type { AddressInfo } from "node:net";
import mongoose from "mongoose";
import type { ServiceBroker } from "moleculer";
import { MessageModel } from "../../models/message.model.ts";
import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";
import { AccountModel } from "../../models/account.model.ts";
import { AccountLinkModel } from "../../models/account-link.model.ts";
import { resetConfig } from "../../lib/config.ts";
import { signWebhook, verifyWebhookSignature } from "../../lib/webhook-signature.ts";
import { load, progress } from "../measure.ts";
import { startBroker } from "../env.ts";

// Webhook ingestion end to end (signature check, durable store, processing into contact,
// conversation and message) in events/s: on one node, and with the gateway and the inbox on two
// nodes over NATS; against a bare node:http handler that verifies the signature and inserts the
// raw event with the mongodb driver. ratio = ours (one node) over the bare handler's.

const SECRET = "bench-consumer-secret";
const NATS = process.env.NATS_URL || "nats://127.0.0.1:4222";

function delivery(accountUserId: string, i: number, tag: string): string {
	const customer = String(8_000_000 + (i % 50)); // 50 customers writing in turns
	return JSON.stringify({
		for_user_id: accountUserId,
		direct_message_events: [
			{
				type: "message_create",
				id: `${tag}${i}`,
				created_timestamp: String(Date.now()),
				message_create: { target: { recipient_id: accountUserId }, sender_id: customer, message_data: { text: `hello ${i}` } },
			},
		],
		users: { [customer]: { id_str: customer, screen_name: `c${customer}`, name: `Customer ${customer}` } },
	});
}

async function post(url: string, body: string): Promise<boolean> {
	const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", "x-twitter-webhooks-signature": signWebhook(SECRET, body) }, body });
	await res.arrayBuffer();
	return res.status === 200;
}

async function ingest(url: string, accountId: string, accountUserId: string, events: number, tag: string) {
	const bodies = Array.from({ length: events }, (_, i) => delivery(accountUserId, i, tag));
	let next = 0;
	const t0 = performance.now();
	const acked = await load(() => post(url, bodies[next++]), events, 8);
	while ((await MessageModel.countDocuments({ accountId })) < events) await new Promise(r => setTimeout(r, 50));
	const seconds = (performance.now() - t0) / 1000;
	return { events, ackP50ms: acked.p50ms, ackP99ms: acked.p99ms, seconds: Math.round(seconds * 100) / 100, eventsPerSecond: Math.round(events / seconds) };
}

async function account(merchantId: string, twitterUserId: string) {
	const doc = await AccountModel.create({ merchantId, twitterUserId, username: `bench_${twitterUserId}` });
	await AccountLinkModel.create({ _id: twitterUserId, merchantId, accountId: doc._id });
	return doc._id;
}

const gatewayUrl = (broker: ServiceBroker) => {
	const api = broker.getLocalService("api") as unknown as { server: Server };
	return `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/mkt-x/webhooks/twitter`;
};

export async function run({ scale = 1 }: { scale?: number }) {
	const events = Math.max(50, Math.round(300 * scale));
	process.env.X_CONSUMER_SECRET = SECRET;
	resetConfig();
	const services = ["api", "accounts", "webhooks", "inbox", "contacts"];
	const limits = { api: { webhookEventsPerMinute: 1_000_000 } };

	// Baseline: verify and insert the raw event, nothing more.
	const single = await startBroker(services, limits);
	const rawCollection = mongoose.connection.db!.collection("bench_raw_events");
	const bare = http.createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", c => chunks.push(c));
		req.on("end", async () => {
			const body = Buffer.concat(chunks);
			if (!verifyWebhookSignature(SECRET, body, req.headers["x-twitter-webhooks-signature"])) {
				res.writeHead(401).end();
				return;
			}
			await rawCollection.insertOne({ payload: body.toString("utf8"), receivedAt: new Date() });
			res.writeHead(200).end("{}");
		});
	});
	await new Promise<void>(r => bare.listen(0, "127.0.0.1", r));
	const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
	progress(`webhook-ingest: baseline, ${events} events`);
	const bodies = Array.from({ length: events }, (_, i) => delivery("1", i, "base"));
	let n = 0;
	const baselineLoad = await load(() => post(bareUrl, bodies[n++]), events, 8);
	const baseline = { events, seconds: baselineLoad.seconds, eventsPerSecond: baselineLoad.rps, p50ms: baselineLoad.p50ms, p99ms: baselineLoad.p99ms };
	await new Promise(r => bare.close(r));

	progress(`webhook-ingest: one node`);
	const oneNodeAccount = await account("bench-m1", "424200001");
	const oneNode = await ingest(gatewayUrl(single), oneNodeAccount, "424200001", events, "one");
	progress(`webhook-ingest: one node ${oneNode.eventsPerSecond} events/s`);
	await single.stop();

	progress(`webhook-ingest: gateway and inbox on two nodes over NATS`);
	process.env.TRANSPORTER = NATS;
	resetConfig();
	const core = await startBroker(["accounts", "webhooks", "inbox", "contacts"]);
	const gateway = await startBroker(["api"], limits);
	for (let i = 0; i < 100 && !(await gateway.call("api.listAliases").then((a: unknown) => (a as unknown[]).length > 3)); i++) await new Promise(r => setTimeout(r, 100));
	const twoNodeAccount = await account("bench-m2", "424200002");
	const twoNodes = await ingest(gatewayUrl(gateway), twoNodeAccount, "424200002", events, "two");
	progress(`webhook-ingest: two nodes ${twoNodes.eventsPerSecond} events/s`);
	const stored = await WebhookDeliveryModel.countDocuments({});
	await gateway.stop();
	await core.stop();
	delete process.env.TRANSPORTER;
	resetConfig();

	return {
		scenario: "webhook-ingest",
		ratio: Math.round((oneNode.eventsPerSecond / baseline.eventsPerSecond) * 1000) / 1000,
		candidate: { oneNode, twoNodes, deliveriesStored: stored },
		baseline,
	};
}
