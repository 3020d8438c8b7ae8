import { dropDatabase, startNode, useFreshDatabase, waitUntil, NATS_URL, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, TEST_CONSUMER_SECRET } from "../helpers/x-events.ts";
import { createAccount } from "../helpers/accounts.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../lib/net.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { ensureSqliteIdIndexes } from "../../lib/ferretdb-sqlite.ts";

// A burst from many customers of several accounts, acknowledged by one gateway and applied by
// the writers of two inbox nodes over NATS: every message stored once, in order within its
// conversation, and every figure equal to a recount (reconcile finds no drift). 2,000 events on
// the run's engine (FerretDB on PostgreSQL, or MONGO_URL) and on FerretDB's SQLite backend
// (INGEST_BURST_EVENTS / INGEST_BURST_EVENTS_SQLITE change them), whose only pushed-down filter
// is `_id` and every other query reads the whole table.
// SQLite, 2,000 events, on the shared 2-core machine: before its `_id` index (lib/ferretdb-sqlite.ts)
// the deliveries' hand-over marks, the messages' settle marks and the queue's deletes each parsed
// the whole table under SQLite's one write lock, and the acknowledgements' inserts waited behind
// them: at load 5–8 the acks ended at 85 s with 1,246 deliveries not yet handed over (a run of
// the test, which then waited only for the queue, saw 1,023 of 2,000 messages); at load 8–14,
// 504 OUTCOME_UNKNOWN acks and 1,294 deliveries still waiting at 206 s. With the index (load 6–8):
// acks done at 46 s, all applied at 86 s, then 126 s of reconcile (200 whole-table reads of the
// messages); with reconcile's one lookup per 50 conversations, the test took 100 s at load 7–10
// and 46 s at load 3 (the PostgreSQL one beside it: 36 s).

process.env.X_CONSUMER_SECRET = TEST_CONSUMER_SECRET;
useFreshDatabase("ingest_burst");
process.env.RATE_LIMIT_WEBHOOK_EVENTS_PER_MINUTE = "1000000";

const EVENTS = Number(process.env.INGEST_BURST_EVENTS ?? 2000);
const EVENTS_SQLITE = Number(process.env.INGEST_BURST_EVENTS_SQLITE ?? 2000);
const ACCOUNTS = 5;
const CUSTOMERS = 50;
const CONCURRENCY = 20;

async function twoNodes(): Promise<TestNode[]> {
	const services = ["accounts", "webhooks", "inbox", "contacts"];
	const gateway = await startNode({ services: ["api", ...services], transporter: NATS_URL, nodeID: "burst-gateway" });
	const other = await startNode({ services, transporter: NATS_URL, nodeID: "burst-worker" });
	return [gateway, other];
}

afterAll(async () => {
	await dropDatabase();
});

async function burst(gateway: TestNode, events: number, merchantId: string) {
	const accounts = await Promise.all(
		Array.from(
			{ length: ACCOUNTS },
			async (_, i) => (await createAccount(merchantId, { fields: { twitterUserId: String(77_000_000 + i) } })).account
		)
	);
	const base = Date.now() - events * 1000;
	// Customer c writes its messages in order (event time and sending order agree); customers interleave.
	const all = Array.from({ length: events }, (_, i) => {
		const customer = i % CUSTOMERS;
		const account = accounts[customer % ACCOUNTS];
		return {
			account,
			customer: String(66_000_000 + customer),
			eventId: String(900_000_000 + i),
			at: new Date(base + i * 1000),
			text: `m${i}`,
		};
	});
	const perCustomer = new Map<string, typeof all>();
	for (const e of all) perCustomer.set(e.customer, [...(perCustomer.get(e.customer) ?? []), e]);

	let acked = 0;
	const refused: number[] = [];
	const queues = [...perCustomer.values()];
	// CONCURRENCY posters; each customer's events go one after the other.
	let nextQueue = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			for (let q = nextQueue++; q < queues.length; q = nextQueue++) {
				for (const e of queues[q]) {
					const payload = dmPayload({
						forUserId: e.account.twitterUserId,
						eventId: e.eventId,
						senderId: e.customer,
						recipientId: e.account.twitterUserId,
						text: e.text,
						at: e.at,
					});
					// As X does: a delivery not answered 200 is sent again a moment later.
					for (let attempt = 0; ; attempt++) {
						const res = await postWebhook(gateway.url, payload);
						if (res.status === 200) {
							acked++;
							break;
						}
						refused.push(res.status);
						if (res.status >= 500 && res.status !== 503) console.error(`refused ${res.status}: ${JSON.stringify(res.body)}`);
						if (attempt === 5) break;
						await new Promise(r => setTimeout(r, 200 * (attempt + 1)));
					}
				}
			}
		})
	);
	// Refusals (503 under load) are honest: X sends those deliveries again, and each is stored once.
	expect(refused.filter(status => status !== 503 && status !== 429)).toEqual([]);
	expect(acked).toBe(events);

	// Drained: every acknowledged delivery handed to the inbox (the hand-over runs behind the
	// answer, so the queue can be empty while deliveries still wait for it) and every row applied.
	await waitUntil(
		async () =>
			(await WebhookDeliveryModel.countDocuments({ status: "pending" })) === 0 && (await InboxActivityModel.countDocuments({})) === 0,
		300_000,
		"deliveries handed over and queue drained"
	);
	const messages = await MessageModel.find(
		{ merchantId },
		{ twitterMessageId: 1, conversationId: 1, contactId: 1, sentAt: 1, content: 1 }
	).lean();
	expect(messages).toHaveLength(events);
	expect(new Set(messages.map(m => m.twitterMessageId)).size).toBe(events);

	// In order within each conversation: by the time shown, each customer's texts in the order written.
	const byConversation = new Map<string, typeof messages>();
	for (const m of messages) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m]);
	expect(byConversation.size).toBe(CUSTOMERS);
	for (const list of byConversation.values()) {
		const shown = [...list].sort((a, b) => +new Date(a.sentAt!) - +new Date(b.sentAt!)).map(m => Number(m.content.slice(1)));
		expect(shown).toEqual([...shown].sort((a, b) => a - b));
	}

	const perConversation = events / CUSTOMERS;
	const conversations = await ConversationModel.find({ merchantId }).lean();
	expect(conversations.map(c => c.messageCount)).toEqual(Array(CUSTOMERS).fill(perConversation));
	const contacts = await ContactModel.find({ merchantId }).lean();
	expect(contacts).toHaveLength(CUSTOMERS);
	expect(contacts.map(c => [c.messagesReceived, c.conversationCount])).toEqual(Array(CUSTOMERS).fill([perConversation, 1]));

	const report = (await gateway.broker.call("inbox.reconcile", { merchantId }, { timeout: 300_000 })) as {
		conversations: number;
		drift: unknown[];
	};
	expect(report.conversations).toBe(CUSTOMERS);
	expect(report.drift).toEqual([]);
}

test(`${EVENTS} signed events at concurrency ${CONCURRENCY} from ${CUSTOMERS} customers across two inbox nodes: stored once, in order, figures exact`, async () => {
	const nodes = await twoNodes();
	try {
		await burst(nodes[0], EVENTS, "m-burst");
	} finally {
		for (const n of nodes.reverse()) await n.stop();
	}
}, 900_000);

describe("on FerretDB's SQLite backend", () => {
	const SQLITE_DB = "burst_sqlite";
	let sqlite: RunningFerretDb;
	let runUrl: string;
	beforeAll(async () => {
		runUrl = process.env.MONGO_URL!;
		sqlite = await startFerretDb({
			port: await freePort(),
			dataDir: mkdtempSync(path.join(os.tmpdir(), "mktx-burst-sqlite-")),
			handler: "sqlite",
			log: () => {},
		});
		process.env.MONGO_URL = `${sqlite.url}${SQLITE_DB}`;
	});
	afterAll(async () => {
		process.env.MONGO_URL = runUrl;
		await sqlite?.stop();
	});

	test(`${EVENTS_SQLITE} signed events across two inbox nodes: stored once, in order, figures exact`, async () => {
		const nodes = await twoNodes();
		try {
			// As `npm start` does once its services have created their collections.
			expect(ensureSqliteIdIndexes(sqlite.sqliteDir!, SQLITE_DB).created).toBeGreaterThan(0);
			await burst(nodes[0], EVENTS_SQLITE, "m-burst-sqlite");
		} finally {
			for (const n of nodes.reverse()) await n.stop();
		}
	}, 900_000);
});
