import { dropDatabase, startNode, useFreshDatabase, waitUntil, NATS_URL, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, TEST_CONSUMER_SECRET } from "../helpers/x-events.ts";
import { seedAccount } from "../helpers/seed.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";

// A burst from many customers of several accounts, acknowledged by one gateway and applied by
// the writers of two inbox nodes over NATS: every message stored once, in order within its
// conversation, and every figure equal to a recount (reconcile finds no drift).

process.env.X_CONSUMER_SECRET = TEST_CONSUMER_SECRET;
useFreshDatabase("ingest_burst");
process.env.RATE_LIMIT_WEBHOOK_EVENTS_PER_MINUTE = "1000000";

const EVENTS = Number(process.env.INGEST_BURST_EVENTS ?? 600);
const ACCOUNTS = 5;
const CUSTOMERS = 50;
const CONCURRENCY = 20;

let gateway: TestNode;
let other: TestNode;

beforeAll(async () => {
	const services = ["accounts", "webhooks", "inbox", "contacts"];
	gateway = await startNode({ services: ["api", ...services], transporter: NATS_URL, nodeID: "burst-gateway" });
	other = await startNode({ services, transporter: NATS_URL, nodeID: "burst-worker" });
}, 60_000);
afterAll(async () => {
	await other?.stop();
	await gateway?.stop();
	await dropDatabase();
});

test(`${EVENTS} signed events at concurrency ${CONCURRENCY} from ${CUSTOMERS} customers: stored once, in order, figures exact`, async () => {
	const accounts = await Promise.all(Array.from({ length: ACCOUNTS }, (_, i) => seedAccount("m-burst", { twitterUserId: String(77_000_000 + i) })));
	const base = Date.now() - EVENTS * 1000;
	// Customer c writes its messages in order (event time and sending order agree); customers interleave.
	const events = Array.from({ length: EVENTS }, (_, i) => {
		const customer = i % CUSTOMERS;
		const account = accounts[customer % ACCOUNTS];
		return { account, customer: String(66_000_000 + customer), eventId: String(900_000_000 + i), at: new Date(base + i * 1000), text: `m${i}` };
	});
	const perCustomer = new Map<string, typeof events>();
	for (const e of events) perCustomer.set(e.customer, [...(perCustomer.get(e.customer) ?? []), e]);

	let acked = 0;
	const refused: number[] = [];
	const queues = [...perCustomer.values()];
	// CONCURRENCY posters; each customer's events go one after the other.
	let nextQueue = 0;
	await Promise.all(
		Array.from({ length: CONCURRENCY }, async () => {
			for (let q = nextQueue++; q < queues.length; q = nextQueue++) {
				for (const e of queues[q]) {
					const payload = dmPayload({ forUserId: e.account.twitterUserId, eventId: e.eventId, senderId: e.customer, recipientId: e.account.twitterUserId, text: e.text, at: e.at });
					// As X does: a delivery not answered 200 is sent again a moment later.
					for (let attempt = 0; ; attempt++) {
						const res = await postWebhook(gateway.url, payload);
						if (res.status === 200) {
							acked++;
							break;
						}
						refused.push(res.status);
						if (attempt === 5) break;
						await new Promise(r => setTimeout(r, 200 * (attempt + 1)));
					}
				}
			}
		})
	);
	// Refusals (503 under load) are honest: X sends those deliveries again, and each is stored once.
	expect(refused.filter(status => status !== 503 && status !== 429)).toEqual([]);
	expect(acked).toBe(EVENTS);

	await waitUntil(async () => (await InboxActivityModel.countDocuments({})) === 0, 300_000, "queue drained");
	const messages = await MessageModel.find({ merchantId: "m-burst" }, { twitterMessageId: 1, conversationId: 1, contactId: 1, sentAt: 1, content: 1 }).lean();
	expect(messages).toHaveLength(EVENTS);
	expect(new Set(messages.map(m => m.twitterMessageId)).size).toBe(EVENTS);

	// In order within each conversation: by the time shown, each customer's texts in the order written.
	const byConversation = new Map<string, typeof messages>();
	for (const m of messages) byConversation.set(m.conversationId, [...(byConversation.get(m.conversationId) ?? []), m]);
	expect(byConversation.size).toBe(CUSTOMERS);
	for (const list of byConversation.values()) {
		const shown = [...list].sort((a, b) => +new Date(a.sentAt!) - +new Date(b.sentAt!)).map(m => Number(m.content.slice(1)));
		expect(shown).toEqual([...shown].sort((a, b) => a - b));
	}

	const perConversation = EVENTS / CUSTOMERS;
	const conversations = await ConversationModel.find({ merchantId: "m-burst" }).lean();
	expect(conversations.map(c => c.messageCount)).toEqual(Array(CUSTOMERS).fill(perConversation));
	const contacts = await ContactModel.find({ merchantId: "m-burst" }).lean();
	expect(contacts).toHaveLength(CUSTOMERS);
	expect(contacts.map(c => [c.messagesReceived, c.conversationCount])).toEqual(Array(CUSTOMERS).fill([perConversation, 1]));

	const report = (await gateway.broker.call("inbox.reconcile", { merchantId: "m-burst" }, { timeout: 300_000 })) as { conversations: number; drift: unknown[] };
	expect(report.conversations).toBe(CUSTOMERS);
	expect(report.drift).toEqual([]);
}, 600_000);
