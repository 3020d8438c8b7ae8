import { createHmac } from "node:crypto";
import { client, dropDatabase, eventRecorder, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, readPayload, TEST_CONSUMER_SECRET, xSignature } from "../helpers/x-events.ts";
import { createAccount } from "../helpers/accounts.ts";
import { accountApplied } from "../helpers/inbox.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";

process.env.X_CONSUMER_SECRET = TEST_CONSUMER_SECRET;
useFreshDatabase("webhooks");

const events = eventRecorder(["contact.created", "conversation.created", "message.received", "message.sent", "message.read"]);
let node: TestNode;
let seq = 0;
const nextEventId = () => `${Date.now()}${String(++seq).padStart(4, "0")}`;

beforeAll(async () => {
	node = await startNode({ services: ["api", "accounts", "webhooks", "inbox", "contacts"], extraServices: [events.schema] });
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const processed = (count: number, filter: Record<string, unknown>) =>
	waitUntil(async () => (await MessageModel.countDocuments(filter)) >= count, 10_000, `${count} stored messages`);

describe("CRC challenge", () => {
	test.each(["/webhooks/twitter", "/webhooks/verify"])(
		"GET %s answers sha256=base64(HMAC-SHA256(consumer secret, crc_token))",
		async path => {
			const expected = "sha256=" + createHmac("sha256", TEST_CONSUMER_SECRET).update("challenge-123").digest("base64");
			const res = await client(node.url).get(`${path}?crc_token=challenge-123`);
			expect(res.status).toBe(200);
			expect(res.body).toEqual({ response_token: expected });
		}
	);

	test("a missing crc_token is a 400", async () => {
		const res = await client(node.url).get("/webhooks/twitter");
		expect(res.status).toBe(400);
		expect(res.body).toMatchObject({ success: false, errorCode: "BAD_REQUEST" });
	});
});

describe("signature check", () => {
	const payload = dmPayload({ forUserId: "1", eventId: "sig-1", senderId: "2", recipientId: "1", text: "hi" });

	test("a delivery without a signature is a 401 and stores nothing", async () => {
		const res = await postWebhook(node.url, payload, { signature: null });
		expect(res.status).toBe(401);
		expect(res.body.errorCode).toBe("INVALID_SIGNATURE");
		expect(await WebhookDeliveryModel.countDocuments({})).toBe(0);
	});

	test("a delivery signed with another secret, or for another body, is a 401", async () => {
		expect((await postWebhook(node.url, payload, { signature: xSignature(JSON.stringify(payload), "wrong-secret") })).status).toBe(401);
		expect((await postWebhook(node.url, payload, { signature: xSignature("{}") })).status).toBe(401);
		expect(await WebhookDeliveryModel.countDocuments({})).toBe(0);
	});
});

describe("ingestion", () => {
	test("an inbound DM creates the contact, opens a conversation, stores the message and emits events", async () => {
		const { account } = await createAccount("m-wh", { fields: { username: "goodgo_shop" } });
		const at = new Date("2026-01-18T09:00:00Z");
		const payload = dmPayload({
			forUserId: account.twitterUserId,
			eventId: nextEventId(),
			senderId: "987654321",
			recipientId: account.twitterUserId,
			text: "Xin chào!",
			at,
			users: { "987654321": { screen_name: "customer_john", name: "John Doe" } },
		});
		const res = await postWebhook(node.url, payload);
		expect(res.status).toBe(200);
		// message.received is emitted once the message's effects (counters included) are in place.
		await waitUntil(() => events.of("message.received").some(e => e.accountId === account._id), 10_000, "message.received");

		const contact = await ContactModel.findOne({ accountId: account._id, twitterUserId: "987654321" }).lean();
		expect(contact).toMatchObject({
			merchantId: "m-wh",
			username: "customer_john",
			displayName: "John Doe",
			source: "inbound_message",
			messagesReceived: 1,
			conversationCount: 1,
		});
		expect(contact!.firstInteractionAt).toEqual(at);
		expect(contact!.lastInteractionAt).toEqual(at);
		const conversation = await ConversationModel.findOne({ contactId: contact!._id }).lean();
		expect(conversation).toMatchObject({ status: "open", messageCount: 1, merchantId: "m-wh" });
		expect(conversation!.lastMessageAt).toEqual(at);

		const api = client(node.url, tokenFor("m-wh"));
		const list = await api.get("/conversations");
		expect(list.body.data).toHaveLength(1);
		expect(list.body.data[0]).toMatchObject({
			id: conversation!._id,
			contactId: contact!._id,
			accountId: account._id,
			channel: "direct_message",
			messageCount: 1,
			contact: { username: "customer_john", displayName: "John Doe" },
		});
		const thread = await api.get(`/conversations/${conversation!._id}`);
		expect(thread.body.data.messages).toEqual([
			expect.objectContaining({ direction: "inbound", type: "text", content: "Xin chào!", isFromBot: false, attachments: [] }),
		]);

		expect(events.of("contact.created").filter(e => e.contactId === contact!._id)).toHaveLength(1);
		expect(events.of("conversation.created").filter(e => e.contactId === contact!._id)).toHaveLength(1);
	});

	test("deliveries arriving together are stored together: copies of one body answer duplicate, each new one is stored once", async () => {
		// The raw store commits concurrent deliveries as one group (services/webhooks/delivery-store.ts):
		// a copy inside the same group, or of a body stored by an earlier group, is X's retry.
		const { account } = await createAccount("m-group");
		const payloads = Array.from({ length: 12 }, (_, i) =>
			dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: String(7100 + i),
				recipientId: account.twitterUserId,
				text: `g${i}`,
			})
		);
		const sent = [...payloads, ...payloads.slice(0, 6), ...payloads.slice(0, 3)];
		const answers = await Promise.all(sent.map(p => postWebhook(node.url, p)));
		expect(answers.map(a => a.status)).toEqual(sent.map(() => 200));
		const fresh = answers.filter(a => a.body.data.duplicate === false);
		expect(fresh).toHaveLength(12);
		expect(new Set(fresh.map(a => a.body.data.deliveryId)).size).toBe(12);
		await waitUntil(async () => (await MessageModel.countDocuments({ accountId: account._id })) === 12, 10_000, "all 12 messages stored");
		await waitUntil(async () => (await InboxActivityModel.countDocuments({ accountId: account._id })) === 0, 10_000, "queue drained");
		expect(await WebhookDeliveryModel.countDocuments({ forUserId: account.twitterUserId })).toBe(12);
		expect(await WebhookDeliveryModel.countDocuments({ forUserId: account.twitterUserId, status: "processed" })).toBe(12);
		expect(await MessageModel.countDocuments({ accountId: account._id })).toBe(12);
	});

	test("a duplicate delivery, or the same event in another delivery, stores one message", async () => {
		const { account } = await createAccount("m-dup");
		const eventId = nextEventId();
		const payload = dmPayload({
			forUserId: account.twitterUserId,
			eventId,
			senderId: "555",
			recipientId: account.twitterUserId,
			text: "once",
		});
		expect((await postWebhook(node.url, payload)).status).toBe(200);
		expect((await postWebhook(node.url, payload)).status).toBe(200);
		const again = { ...payload, users: { "555": { id_str: "555", screen_name: "renamed", name: "R" } } };
		expect((await postWebhook(node.url, again)).status).toBe(200);
		await waitUntil(
			async () => (await WebhookDeliveryModel.countDocuments({ forUserId: account.twitterUserId, status: "processed" })) === 2,
			10_000,
			"deliveries processed"
		);
		expect(await WebhookDeliveryModel.countDocuments({ forUserId: account.twitterUserId })).toBe(2);
		// Handed over twice, applied once: the queue row's id is derived from X's event id.
		await waitUntil(
			async () => (await ConversationModel.findOne({ accountId: account._id }).lean())?.messageCount === 1,
			10_000,
			"applied"
		);
		await waitUntil(async () => (await InboxActivityModel.countDocuments({ accountId: account._id })) === 0, 10_000, "queue drained");
		expect(await MessageModel.countDocuments({ accountId: account._id })).toBe(1);
		expect(await ConversationModel.findOne({ accountId: account._id }).lean()).toMatchObject({ messageCount: 1 });
	});

	test("50 concurrent deliveries from one new customer make one contact and one conversation", async () => {
		const { account } = await createAccount("m-burst");
		const posts = Array.from({ length: 50 }, (_, i) =>
			postWebhook(
				node.url,
				dmPayload({
					forUserId: account.twitterUserId,
					eventId: nextEventId(),
					senderId: "424242",
					recipientId: account.twitterUserId,
					text: `msg ${i}`,
					at: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
				})
			)
		);
		const results = await Promise.all(posts);
		expect(results.every(r => r.status === 200)).toBe(true);
		await processed(50, { accountId: account._id });
		expect(await ContactModel.countDocuments({ accountId: account._id })).toBe(1);
		expect(await ConversationModel.countDocuments({ accountId: account._id })).toBe(1);
		await waitUntil(
			async () => (await ConversationModel.findOne({ accountId: account._id }).lean())?.messageCount === 50,
			10_000,
			"messageCount 50"
		);
		await waitUntil(
			async () => (await ContactModel.findOne({ accountId: account._id }).lean())?.messagesReceived === 50,
			10_000,
			"messagesReceived 50"
		);
	});

	test("an event for an unknown account is stored and acknowledged, not processed", async () => {
		const res = await postWebhook(
			node.url,
			dmPayload({ forUserId: "000-unknown", eventId: nextEventId(), senderId: "1", recipientId: "000-unknown", text: "?" })
		);
		expect(res.status).toBe(200);
		await waitUntil(
			async () => (await WebhookDeliveryModel.findOne({ forUserId: "000-unknown" }).lean())?.status === "ignored",
			5000,
			"ignored"
		);
		expect(await MessageModel.countDocuments({ content: "?" })).toBe(0);
	});

	test("a DM the account sent from X's app is recorded as outbound once, and the customer's read marks it read", async () => {
		const { account } = await createAccount("m-echo");
		const inboundId = nextEventId();
		await postWebhook(
			node.url,
			dmPayload({
				forUserId: account.twitterUserId,
				eventId: inboundId,
				senderId: "777",
				recipientId: account.twitterUserId,
				text: "question",
			})
		);
		// The reply's response time is measured from the question, so the question is in first.
		await waitUntil(
			async () => (await ConversationModel.findOne({ accountId: account._id }).lean())?.awaitingReplySince != null,
			5000,
			"question stored"
		);
		const outboundId = nextEventId();
		const echo = dmPayload({
			forUserId: account.twitterUserId,
			eventId: outboundId,
			senderId: account.twitterUserId,
			recipientId: "777",
			text: "answer from the phone",
		});
		await postWebhook(node.url, echo);
		await postWebhook(node.url, { ...echo, users: {} });
		await processed(2, { accountId: account._id });
		const outbound = await MessageModel.find({ accountId: account._id, direction: "outbound" }).lean();
		expect(outbound).toHaveLength(1);
		expect(outbound[0]).toMatchObject({ status: "sent", content: "answer from the phone", origin: "x_app" });
		expect(typeof outbound[0].responseSeconds).toBe("number");

		await postWebhook(
			node.url,
			readPayload({ forUserId: account.twitterUserId, readerId: "777", accountUserId: account.twitterUserId, lastReadEventId: outboundId })
		);
		await waitUntil(async () => (await MessageModel.findById(outbound[0]._id).lean())?.status === "read", 5000, "read");
	});

	test("a message after the conversation was closed starts a new conversation", async () => {
		const { account } = await createAccount("m-close");
		await postWebhook(
			node.url,
			dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: "31337",
				recipientId: account.twitterUserId,
				text: "first",
			})
		);
		await processed(1, { accountId: account._id });
		const first = await ConversationModel.findOne({ accountId: account._id }).lean();
		const api = client(node.url, tokenFor("m-close"));
		const closed = await api.put(`/conversations/${first!._id}/close`, { reason: "resolved" });
		expect(closed.status).toBe(200);
		expect(closed.body.data).toMatchObject({ status: "closed", closeReason: "resolved" });
		await postWebhook(
			node.url,
			dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: "31337",
				recipientId: account.twitterUserId,
				text: "again",
			})
		);
		await processed(2, { accountId: account._id });
		const conversations = await ConversationModel.find({ accountId: account._id }).sort({ startedAt: 1 }).lean();
		expect(conversations.map(c => c.status)).toEqual(["closed", "open"]);
		const contact = await ContactModel.findOne({ accountId: account._id }).lean();
		await waitUntil(async () => (await ContactModel.findById(contact!._id).lean())?.conversationCount === 2, 5000, "conversationCount 2");
	});

	test("a delivery whose hand-over to the inbox was lost is handed over by the sweep and applied once", async () => {
		const { account } = await createAccount("m-sweep");
		const payload = JSON.stringify(
			dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: "8080",
				recipientId: account.twitterUserId,
				text: "left behind",
			})
		);
		// As if a node stored it, answered X, and died before processing.
		await WebhookDeliveryModel.create({
			_id: "dead-node-delivery",
			forUserId: account.twitterUserId,
			payload,
			receivedAt: new Date(Date.now() - 60_000),
		});
		const result = await node.broker.call("webhooks.sweep", {});
		expect(result).toMatchObject({ processed: 1 });
		expect((await WebhookDeliveryModel.findById("dead-node-delivery").lean())!.status).toBe("processed");
		await processed(1, { accountId: account._id, content: "left behind" });
		// A second sweep finds nothing; handing the same events over again would store nothing new.
		expect(await node.broker.call("webhooks.sweep", {})).toMatchObject({ found: 0 });
		expect(await MessageModel.countDocuments({ accountId: account._id, content: "left behind" })).toBe(1);
	});
});

test("erasing a contact (GDPR) also removes the raw deliveries that carried their messages", async () => {
	const { account } = await createAccount("m-gdpr");
	await postWebhook(
		node.url,
		dmPayload({
			forUserId: account.twitterUserId,
			eventId: nextEventId(),
			senderId: "66666",
			recipientId: account.twitterUserId,
			text: "my address is 1 Main St",
		})
	);
	await postWebhook(
		node.url,
		dmPayload({
			forUserId: account.twitterUserId,
			eventId: nextEventId(),
			senderId: "77777",
			recipientId: account.twitterUserId,
			text: "someone else",
		})
	);
	await processed(2, { accountId: account._id });
	await waitUntil(
		async () => (await WebhookDeliveryModel.countDocuments({ forUserId: account.twitterUserId, status: "processed" })) === 2,
		5000,
		"processed"
	);
	const contact = await ContactModel.findOne({ accountId: account._id, twitterUserId: "66666" }).lean();
	const res = await client(node.url, tokenFor("m-gdpr")).del(`/contacts/${contact!._id}`);
	expect(res.status).toBe(200);
	expect(res.body.data.erased).toMatchObject({ webhookDeliveries: 1, messages: 1, conversations: 1, contacts: 1 });
	expect(await WebhookDeliveryModel.countDocuments({ payload: { $regex: "1 Main St" } })).toBe(0);
	expect(await WebhookDeliveryModel.countDocuments({ payload: { $regex: "someone else" } })).toBe(1);
});

describe("webhook events per minute", () => {
	let limited: TestNode;
	beforeAll(async () => {
		limited = await startNode({
			services: ["api", "accounts", "webhooks", "inbox"],
			overrides: { api: { settings: { webhookEventsPerMinute: 3 } } },
		});
	});
	afterAll(() => limited.stop());

	test("past the limit X gets a 429 (it retries later) and the delivery is not stored", async () => {
		const { account } = await createAccount("m-wh-limit");
		const twoEvents = (text: string) => {
			const a = dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: "9",
				recipientId: account.twitterUserId,
				text,
			});
			const b = dmPayload({
				forUserId: account.twitterUserId,
				eventId: nextEventId(),
				senderId: "9",
				recipientId: account.twitterUserId,
				text: `${text} (2)`,
			});
			return { ...a, direct_message_events: [...a.direct_message_events, ...b.direct_message_events] };
		};
		const first = await postWebhook(limited.url, twoEvents("first pair"));
		expect(first.status).toBe(200);
		const second = await postWebhook(limited.url, twoEvents("second pair"));
		expect(second.status).toBe(429);
		expect(second.body.errorCode).toBe("RATE_LIMITED");
		expect(Number(second.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		expect(await WebhookDeliveryModel.countDocuments({ payload: { $regex: "second pair" } })).toBe(0);
	});
});

describe("reconcile (npm run inbox:reconcile)", () => {
	test("finds no drift after ingestion, reports a figure changed by hand, and --fix repairs it", async () => {
		const { account } = await createAccount("m-reconcile");
		for (const text of ["one", "two", "three"]) {
			await postWebhook(
				node.url,
				dmPayload({ forUserId: account.twitterUserId, eventId: nextEventId(), senderId: "5150", recipientId: account.twitterUserId, text })
			);
		}
		// Applied to the end: the contact's figures are written after the conversation's, and the
		// queue rows deleted after both.
		await waitUntil(
			async () =>
				(await ConversationModel.findOne({ accountId: account._id }).lean())?.messageCount === 3 && (await accountApplied(account._id, 3)),
			10_000,
			"3 applied"
		);
		const clean = (await node.broker.call("inbox.reconcile", { merchantId: "m-reconcile" }, { timeout: 60_000 })) as { drift: unknown[] };
		expect(clean.drift).toEqual([]);

		const conversation = (await ConversationModel.findOne({ accountId: account._id }).lean())!;
		await ConversationModel.updateOne({ _id: conversation._id }, { $set: { messageCount: 7, lastMessageAt: new Date(0) } });
		await ContactModel.updateOne({ _id: conversation.contactId }, { $set: { messagesReceived: 1 } });
		const found = (await node.broker.call("inbox.reconcile", { merchantId: "m-reconcile", fix: true }, { timeout: 60_000 })) as {
			drift: unknown[];
		};
		expect(found.drift).toEqual(
			expect.arrayContaining([
				{ kind: "conversation", id: conversation._id, field: "messageCount", stored: 7, counted: 3 },
				{
					kind: "conversation",
					id: conversation._id,
					field: "lastMessageAt",
					stored: new Date(0).toISOString(),
					counted: new Date(conversation.lastMessageAt!).toISOString(),
				},
				{ kind: "contact", id: conversation.contactId, field: "messagesReceived", stored: 1, counted: 3 },
			])
		);
		expect(
			(await node.broker.call("inbox.reconcile", { merchantId: "m-reconcile" }, { timeout: 60_000 })) as { drift: unknown[] }
		).toMatchObject({ drift: [] });
	});
});
