import http, { type Server } from "node:http";
import type { AddressInfo } from "node:net";
import mongoose from "mongoose";
import { SIDE_POOL } from "../../lib/db.ts";
import { AccountModel } from "../../models/account.model.ts";
import { AccountLinkModel } from "../../models/account-link.model.ts";
import { config, resetConfig } from "../../lib/config.ts";
import { uuidFromName } from "../../lib/ids.ts";
import { signWebhook, verifyWebhookSignature } from "../../lib/webhook-signature.ts";
import { load, progress, percentile } from "../measure.ts";
import { counted, perUnit } from "../commands.ts";
import { createStartIndexes, startBroker } from "../env.ts";
import { seedInbox } from "../seed-inbox.ts";
import { writeFloor } from "../write-floor.ts";

// Scenario `webhook-ingest` (issue 12's goal, issue 16's drain check), default --scale 1:
//  - seed: 20,000 contacts with 200,000 messages (× scale) on the X account that then receives,
//    written with the driver in batches of 5,000 (timed);
//  - the gateway (api) on one node, the core (accounts, webhooks, inbox, contacts) on another,
//    over NATS in a namespace of the run's own;
//  - trickle: deliveries posted one at a time, each waiting until its message is stored: the
//    per-event processing time when nothing queues (ack + hand-over + one writer batch);
//  - burst: N = 2,000 × scale (at least 200) signed deliveries at concurrency 20 from 50 of the
//    seeded customers, as fast as they are acknowledged. Reported: acknowledged, stored (must
//    equal acknowledged, none twice: checked on the stored rows), events/min end to end (first
//    post → nothing left to hand over or apply, polled every 50 ms; then checked stored), ack
//    p50/p99, database commands per event (everything the two nodes sent meanwhile, the queue's
//    own reads and leases included, Agenda's polling apart);
//  - drain (issue 16): the burst must be fully processed within 1.5 × N × the trickle's time per
//    event, with as many stored as acknowledged;
//  - baseline: a bare node:http handler that verifies the same signature and inserts the raw
//    body with the driver, same N at concurrency 20. ratio = ours end to end / bare (events/min);
//  - write floor: the same N events' least writes on this engine with one writer per account
//    (bench/write-floor.ts, after the burst was counted): its events/min over the bare handler's
//    (`ratioBound`) is the highest ratio any pipeline storing and counting each event can reach here.
// The scenario's own progress polls go through a second connection, so they are not counted.

const SECRET = "bench-consumer-secret";
const NATS = process.env.NATS_URL || "nats://127.0.0.1:4222";
const MESSAGES = 200_000;
const PER_CONTACT = 10;
const BURST = 2_000;
const CONCURRENCY = 20;
const CUSTOMERS = 50;
const ACCOUNT_X_ID = "424200002";
const FIRST_CUSTOMER = 8_000_000;

function delivery(i: number, tag: string): { body: string; eventId: string } {
	const customer = String(FIRST_CUSTOMER + (i % CUSTOMERS));
	const eventId = `${tag}${i}`;
	const body = JSON.stringify({
		for_user_id: ACCOUNT_X_ID,
		direct_message_events: [
			{
				type: "message_create",
				id: eventId,
				created_timestamp: String(Date.now()),
				message_create: {
					target: { recipient_id: ACCOUNT_X_ID },
					sender_id: customer,
					message_data: { text: `Shop ơi, đơn ${i} giao chưa?` },
				},
			},
		],
		users: { [customer]: { id_str: customer, screen_name: `khach_${customer}`, name: `Khách ${customer}` } },
	});
	return { body, eventId };
}

async function post(url: string, body: string): Promise<boolean> {
	const res = await fetch(url, {
		method: "POST",
		headers: { "content-type": "application/json", "x-twitter-webhooks-signature": signWebhook(SECRET, body) },
		body,
	});
	await res.arrayBuffer();
	return res.status === 200;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

export async function run({ scale = 1 }: { scale?: number }) {
	const messages = Math.max(1_000, Math.round(MESSAGES * scale));
	const contacts = Math.ceil(messages / PER_CONTACT);
	const burst = Math.max(200, Math.round(BURST * scale));
	const trickle = Math.max(20, Math.round(100 * scale));
	process.env.X_CONSUMER_SECRET = SECRET;
	process.env.TRANSPORTER = NATS;
	resetConfig();

	const core = await startBroker(["accounts", "webhooks", "inbox", "contacts"]);
	const gateway = await startBroker(["api"], { api: { webhookEventsPerMinute: 1_000_000_000 } });
	await gateway.waitForServices(["webhooks", "accounts", "inbox"], 30_000);
	const db = mongoose.connection.db!;
	const info = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
	const database = info.ferretdbVersion ? `FerretDB ${info.ferretdbVersion}` : `MongoDB ${info.version}`;
	// Progress polls on a connection of their own: not counted among the nodes' commands.
	const watcher = await mongoose
		.createConnection(config().mongoUrl!.replace(/[?&]monitorCommands=true/, ""), { serverSelectionTimeoutMS: 10_000, ...SIDE_POOL })
		.asPromise();

	try {
		const merchantId = "bench-ingest";
		const account = await AccountModel.create({ merchantId, twitterUserId: ACCOUNT_X_ID, username: "shop_ingest" });
		const accountId = account._id as string;
		await AccountLinkModel.create({ _id: ACCOUNT_X_ID, merchantId, accountId });

		progress(`webhook-ingest: seeding ${contacts} contacts and ${messages} messages on ${database}`);
		const seeded = await seedInbox(db, {
			merchantId,
			accountId,
			contacts,
			perContact: PER_CONTACT,
			firstXId: FIRST_CUSTOMER,
			label: "webhook-ingest",
		});
		progress(`webhook-ingest: seeded ${seeded.messages} messages, ${seeded.contacts} contacts and conversations in ${seeded.seconds} s`);
		await createStartIndexes(db.databaseName, "webhook-ingest");

		const api = gateway.getLocalService("api") as unknown as { server: Server };
		const url = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/mkt-x/webhooks/twitter`;
		const storedIds = (eventIds: string[]) => eventIds.map(e => uuidFromName(`x-dm:${accountId}:${e}`));
		const msgs = watcher.db!.collection("messages");
		const deliveries = watcher.db!.collection("webhook_deliveries");
		const queue = watcher.db!.collection("inbox_activity");

		// Trickle: one delivery at a time, the next once the last is stored.
		progress(`webhook-ingest: trickle of ${trickle} deliveries, one at a time`);
		const perEvent: number[] = [];
		for (let i = 0; i < trickle; i++) {
			const { body, eventId } = delivery(i, "trickle-");
			const [id] = storedIds([eventId]);
			const t0 = performance.now();
			if (!(await post(url, body))) throw new Error(`trickle delivery ${i} was not acknowledged`);
			const deadline = Date.now() + 60_000;
			while (!(await msgs.findOne({ _id: id as never }, { projection: { _id: 1 } }))) {
				if (Date.now() > deadline) throw new Error(`trickle delivery ${i} not stored within 60 s`);
				await new Promise(r => setTimeout(r, 10));
			}
			perEvent.push(performance.now() - t0);
		}
		const sorted = [...perEvent].sort((a, b) => a - b);
		const trickleMeanMs = perEvent.reduce((a, b) => a + b, 0) / perEvent.length;
		progress(`webhook-ingest: trickle ${round(trickleMeanMs, 0)} ms per event (p50 ${percentile(sorted, 50)} ms)`);

		// Burst: N deliveries at concurrency 20, then until every acknowledged one is stored.
		const bodies = Array.from({ length: burst }, (_, i) => delivery(i, "burst-"));
		const acked: string[] = [];
		let next = 0;
		progress(`webhook-ingest: burst of ${burst} deliveries at concurrency ${CONCURRENCY} from ${CUSTOMERS} customers`);
		const t0 = performance.now();
		let drainedAt = 0;
		const measured = await counted(async () => {
			const ack = await load(
				async () => {
					const d = bodies[next++];
					const ok = await post(url, d.body);
					if (ok) acked.push(d.eventId);
					return ok;
				},
				burst,
				CONCURRENCY
			);
			const ids = storedIds(acked);
			const deadline = Date.now() + 30 * 60_000;
			let last = 0;
			// Done when nothing waits any more: no delivery left to hand over, no queue row left to
			// apply (a row is deleted after its batch's writes). Two equality counts on small
			// collections; counting the stored messages by id is a scan of every message on FerretDB
			// (seconds at 200,000, loading the machine the pipeline runs on), so it is done only
			// then, to check that every acknowledged event is there.
			for (;;) {
				const waiting = (await deliveries.countDocuments({ status: "pending" })) + (await queue.countDocuments({ accountId }));
				if (!waiting) {
					drainedAt = performance.now();
					const stored = await msgs.countDocuments({ _id: { $in: ids as never[] } });
					if (stored >= ids.length) break;
				}
				if (Date.now() > deadline) throw new Error(`acknowledged messages not all stored after 30 minutes (${waiting} waiting)`);
				if (Date.now() - last > 10_000) {
					progress(`webhook-ingest: ${waiting} deliveries and queue rows waiting`);
					last = Date.now();
				}
				await new Promise(r => setTimeout(r, 50));
			}
			return ack;
		});
		const seconds = (drainedAt - t0) / 1000;
		const ack = measured.result;
		const commands = perUnit(measured.commands, burst, ["agenda_jobs"]);

		// What is stored: each acknowledged event once, nothing else of the burst.
		const rows = await msgs.find({ accountId, twitterMessageId: { $regex: "^burst-" } }, { projection: { twitterMessageId: 1 } }).toArray();
		const distinct = new Set(rows.map(r => r.twitterMessageId)).size;
		const pendingDeliveries = await deliveries.countDocuments({ status: "pending" });
		const eventsPerMinute = round((acked.length / seconds) * 60, 0);
		const predictedSeconds = (burst * trickleMeanMs) / 1000;
		const drain = {
			perEventMs: round(trickleMeanMs, 1),
			trickleEvents: trickle,
			trickleP50ms: percentile(sorted, 50),
			trickleP99ms: percentile(sorted, 99),
			burstEvents: burst,
			predictedSeconds: round(predictedSeconds, 1),
			burstSeconds: round(seconds, 1),
			withinBound: seconds <= 1.5 * predictedSeconds && rows.length === acked.length,
		};
		progress(
			`webhook-ingest: ${acked.length} acknowledged, ${rows.length} stored (${distinct} distinct) in ${round(seconds, 1)} s: ${eventsPerMinute} events/min, ack p50 ${ack.p50ms} ms p99 ${ack.p99ms} ms, ${commands.perUnit} commands per event; drain ${drain.withinBound ? "within" : "NOT within"} 1.5 × ${drain.predictedSeconds} s`
		);
		if (rows.length !== acked.length || distinct !== rows.length)
			throw new Error(`acknowledged ${acked.length}, stored ${rows.length}, distinct ${distinct}`);

		// Baseline: verify and insert the raw body, nothing more, at the same concurrency.
		const raw = db.collection("bench_raw_events");
		const bare = http.createServer((req, res) => {
			const chunks: Buffer[] = [];
			req.on("data", c => chunks.push(c));
			req.on("end", async () => {
				const body = Buffer.concat(chunks);
				if (!verifyWebhookSignature(SECRET, body, req.headers["x-twitter-webhooks-signature"])) return void res.writeHead(401).end();
				await raw.insertOne({ payload: body.toString("utf8"), receivedAt: new Date() });
				res.writeHead(200).end("{}");
			});
		});
		await new Promise<void>(r => bare.listen(0, "127.0.0.1", r));
		const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/`;
		const baseBodies = Array.from({ length: burst }, (_, i) => delivery(i, "bare-").body);
		let n = 0;
		progress(`webhook-ingest: baseline, ${burst} deliveries to a bare verify+insert handler`);
		const base = await load(() => post(bareUrl, baseBodies[n++]), burst, CONCURRENCY);
		await new Promise(r => bare.close(r));
		const baseline = {
			events: burst,
			errors: base.errors,
			seconds: base.seconds,
			eventsPerMinute: round((burst / base.seconds) * 60, 0),
			ackP50ms: base.p50ms,
			ackP99ms: base.p99ms,
		};
		progress(`webhook-ingest: baseline ${baseline.eventsPerMinute} events/min`);

		// The bound on that ratio here: the same N events' least writes with one writer (bench/write-floor.ts).
		const customers = [];
		for (let c = 0; c < CUSTOMERS; c++) {
			const contact = await watcher.db!.collection("contacts").findOne({ accountId, twitterUserId: String(FIRST_CUSTOMER + c) });
			const conversation = contact && (await watcher.db!.collection("conversations").findOne({ openKey: `open:${contact._id}` }));
			if (contact && conversation) customers.push({ contactId: String(contact._id), conversationId: String(conversation._id) });
		}
		progress(`webhook-ingest: the least writes of ${burst} events from ${customers.length} customers, one writer`);
		const floor = await writeFloor(db, { merchantId, accountId, customers, events: burst, tag: "floor-" });
		const ratioBound = round(floor.eventsPerMinute / baseline.eventsPerMinute, 3);
		progress(
			`webhook-ingest: least writes ${floor.eventsPerMinute} events/min (ratio bound ${ratioBound}: the most a pipeline that stores and counts each event with one writer per account can reach against the bare handler here)`
		);

		return {
			scenario: "webhook-ingest",
			scale,
			database,
			ratio: round(eventsPerMinute / baseline.eventsPerMinute, 3),
			candidate: {
				nodes: "gateway | accounts, webhooks, inbox, contacts (NATS)",
				acknowledged: acked.length,
				stored: rows.length,
				storedTwice: rows.length - distinct,
				pendingDeliveries,
				seconds: round(seconds, 2),
				eventsPerMinute,
				ackP50ms: ack.p50ms,
				ackP99ms: ack.p99ms,
				commandsPerEvent: commands.perUnit,
			},
			baseline,
			writeFloor: { ...floor, ratioBound },
			drain,
			commands,
			seed: { contacts: seeded.contacts, conversations: seeded.conversations, messages: seeded.messages, seconds: seeded.seconds },
		};
	} finally {
		await watcher.close();
		await gateway.stop();
		await core.stop();
	}
}
