import { createHmac, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { progress } from "../measure.ts";
import { startBroker } from "../env.ts";
import { resetConfig } from "../../lib/config.ts";
import { startReceiver, type Receiver } from "../../test/helpers/https-receiver.ts";
import { OutboundDeliveryModel } from "../../models/outbound-delivery.model.ts";

// Outbound webhooks end to end: events emitted on the broker, stored, claimed, signed and POSTed
// to a local HTTPS receiver, in events/s and deliveries/s, with 1 and with 10 subscriptions
// (events spread over 20 conversations, each kept in order). Baseline: a bare loop that signs
// and POSTs the same number of bodies to the same receiver over a keep-alive agent, with as many
// in flight as the worker allows (WEBHOOK_CONCURRENCY). ratio = ours (1 subscription, deliveries/s)
// over the bare loop's POSTs/s.

const CONVERSATIONS = 20;

async function bareLoop(receiver: Receiver, posts: number, concurrency: number) {
	const agent = new Agent({ keepAlive: true, ca: readFileSync(receiver.caFile, "utf8") });
	const url = new URL(`${receiver.url}/bare`);
	let next = 0;
	const t0 = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < posts) {
				const body = JSON.stringify({
					id: `evt_${next++}`,
					type: "message.received",
					createdAt: new Date().toISOString(),
					merchantId: "bare",
					data: { n: next },
				});
				const ts = Math.floor(Date.now() / 1000);
				const signature = createHmac("sha256", "whsec_bare").update(`${ts}.${body}`).digest("hex");
				await new Promise<void>((resolve, reject) => {
					const req = request(
						url,
						{
							method: "POST",
							agent,
							headers: { "content-type": "application/json", "x-mktx-timestamp": String(ts), "x-mktx-signature": `sha256=${signature}` },
						},
						res => {
							res.resume();
							res.on("end", resolve);
						}
					);
					req.on("error", reject);
					req.end(body);
				});
			}
		})
	);
	agent.destroy();
	const seconds = (performance.now() - t0) / 1000;
	return { posts, seconds: Math.round(seconds * 1000) / 1000, postsPerSecond: Math.round(posts / seconds) };
}

async function fanout(broker: Awaited<ReturnType<typeof startBroker>>, receiver: Receiver, subscriptions: number, events: number) {
	const merchantId = `bench-fanout-${subscriptions}-${randomUUID().slice(0, 6)}`;
	const path = `/fanout-${subscriptions}`;
	for (let i = 0; i < subscriptions; i++) {
		await broker.call(
			"outbound-webhooks.create",
			{ url: `${receiver.url}${path}`, events: ["message.received"] },
			{ meta: { merchantId } }
		);
	}
	const conversations = Array.from({ length: CONVERSATIONS }, () => randomUUID());
	const expected = events * subscriptions;
	const delivered = () => receiver.received.filter(r => r.path === path).length;
	const t0 = performance.now();
	for (let i = 0; i < events; i++) {
		broker.emit("message.received", {
			merchantId,
			accountId: "acc",
			contactId: "c",
			conversationId: conversations[i % CONVERSATIONS],
			messageId: randomUUID(),
			content: `m${i}`,
			at: new Date().toISOString(),
		});
	}
	while (delivered() < expected) await new Promise(r => setTimeout(r, 20));
	const seconds = (performance.now() - t0) / 1000;
	// with one subscription, each conversation's events must have arrived in emit order
	const outOfOrder = conversations.filter(c => {
		const seen = receiver.received
			.filter(r => r.path === path && r.body.data.conversationId === c)
			.map(r => Number(String(r.body.data.content).slice(1)));
		return seen.some((n, i) => i > 0 && n < seen[i - 1]);
	}).length;
	return {
		subscriptions,
		events,
		deliveries: expected,
		seconds: Math.round(seconds * 1000) / 1000,
		eventsPerSecond: Math.round(events / seconds),
		deliveriesPerSecond: Math.round(expected / seconds),
		...(subscriptions === 1 ? { conversationsOutOfOrder: outOfOrder } : {}),
		stored: await OutboundDeliveryModel.countDocuments({ merchantId }),
	};
}

export async function run({ scale = 1 }: { scale?: number } = {}) {
	const events = Math.max(40, Math.round(400 * scale));
	const receiver = await startReceiver();
	process.env.WEBHOOK_ALLOW_PRIVATE_HOSTS = "true";
	process.env.WEBHOOK_CA_FILE = receiver.caFile;
	const concurrency = resetConfig().outboundWebhooks.concurrency;
	try {
		progress(`webhook-fanout: bare signed POST loop, ${events} POSTs, ${concurrency} in flight`);
		const baseline = await bareLoop(receiver, events, concurrency);
		const broker = await startBroker(["outbound-webhooks"]);
		try {
			progress(`webhook-fanout: ${events} events, 1 subscription`);
			const one = await fanout(broker, receiver, 1, events);
			progress(`webhook-fanout: 1 subscription ${one.deliveriesPerSecond} deliveries/s`);
			progress(`webhook-fanout: ${events} events, 10 subscriptions`);
			const ten = await fanout(broker, receiver, 10, events);
			progress(`webhook-fanout: 10 subscriptions ${ten.deliveriesPerSecond} deliveries/s`);
			return {
				scenario: "webhook-fanout",
				ratio: Math.round((one.deliveriesPerSecond / baseline.postsPerSecond) * 1000) / 1000,
				candidate: { oneSubscription: one, tenSubscriptions: ten, concurrency },
				baseline,
			};
		} finally {
			await broker.stop();
		}
	} finally {
		await receiver.close();
		delete process.env.WEBHOOK_ALLOW_PRIVATE_HOSTS;
		delete process.env.WEBHOOK_CA_FILE;
		resetConfig();
	}
}
