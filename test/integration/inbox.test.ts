import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, xSignature } from "../helpers/x-events.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectThroughApi } from "../helpers/accounts.ts";
import { dmApplied } from "../helpers/inbox.ts";
import { AccountModel } from "../../models/account.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { ContactModel } from "../../models/contact.model.ts";

// The X channel end to end: an account connected through X (the sandbox checks the OAuth
// token), a customer's DM arriving as a signed webhook, and an agent answering through the
// real twitter-api-v2, with X's and our own limits in the way.

useFreshDatabase("inbox");

let x: TestSandbox;
let node: TestNode;
let signedBy: (body: string) => string;

beforeAll(async () => {
	x = await startTestSandbox();
	process.env.SEND_LIMIT_USER_PER_15MIN = "4";
	node = await startNode({ services: ["api", "accounts", "webhooks", "inbox", "x", "contacts"] });
	signedBy = body => xSignature(body, x.consumerSecret);
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	delete process.env.SEND_LIMIT_USER_PER_15MIN;
	await dropDatabase();
});

const connect = (merchantId: string) => connectThroughApi(x.sandbox, node.url, merchantId);

let eventSeq = 0;
async function customerWrites(accountUserId: string, customerId: string, text: string) {
	const eventId = `${Date.now()}${++eventSeq}`;
	const payload = dmPayload({
		forUserId: accountUserId,
		eventId,
		senderId: customerId,
		recipientId: accountUserId,
		text,
		users: { [customerId]: { screen_name: `cust_${customerId}`, name: `Customer ${customerId}` } },
	});
	const body = JSON.stringify(payload);
	const res = await postWebhook(node.url, payload, { signature: signedBy(body) });
	expect(res.status).toBe(200);
	// Applied: stored, its conversation and figures in place, its events out.
	const accountId = (await AccountModel.findOne({ twitterUserId: accountUserId }).lean())!._id;
	await waitUntil(() => dmApplied(accountId, eventId), 10_000, `"${text}" applied`);
	return (await ConversationModel.findOne({ accountId, status: "open" }).lean())!;
}

describe("conversations and sending", () => {
	test("an agent's reply reaches X, is stored sent with X's id, and answers the customer", async () => {
		const { account, user } = await connect("m-send");
		const conversation = await customerWrites(user.id, "700001", "Tôi có câu hỏi về đơn hàng");
		const api = client(node.url, tokenFor("m-send", { userId: "agent-7" }));
		const res = await api.post(`/conversations/${conversation._id}/messages`, {
			content: "Đơn hàng #12345 của bạn đã được gửi đi!",
			type: "text",
		});
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({
			conversationId: conversation._id,
			direction: "outbound",
			type: "text",
			content: "Đơn hàng #12345 của bạn đã được gửi đi!",
			status: "sent",
		});
		const dm = x.sandbox.received().find(d => d.text === "Đơn hàng #12345 của bạn đã được gửi đi!");
		expect(dm).toMatchObject({ senderId: user.id, recipientId: "700001" });
		expect(res.body.data.twitterMessageId).toBe(dm!.dmEventId);
		const stored = await MessageModel.findById(res.body.data.id).lean();
		expect(stored).toMatchObject({ sentByUserId: "agent-7", origin: "agent" });
		// The figures the reply moves are applied by the account's writer, moments later.
		await waitUntil(
			async () => typeof (await MessageModel.findById(res.body.data.id).lean())!.responseSeconds === "number",
			10_000,
			"response time"
		);
		await waitUntil(async () => (await ContactModel.findById(conversation.contactId).lean())!.messagesSent === 1, 10_000, "messagesSent");
		expect(await ContactModel.findById(conversation.contactId).lean()).toMatchObject({ messagesSent: 1, messagesReceived: 1 });
		expect(await ConversationModel.findById(conversation._id).lean()).toMatchObject({ messageCount: 2, awaitingReplySince: null });
		const thread = await api.get(`/conversations/${conversation._id}`);
		expect(thread.body.data.messages.map((m: { direction: string }) => m.direction)).toEqual(["inbound", "outbound"]);
		expect(account.id).toBe(conversation.accountId);
	});

	test("a repeated request with the same Idempotency-Key sends nothing new", async () => {
		const { user } = await connect("m-idem");
		const conversation = await customerWrites(user.id, "700002", "hello?");
		const api = client(node.url, tokenFor("m-idem"));
		const key = { "Idempotency-Key": `idem-${Date.now()}` };
		const first = await api.post(`/conversations/${conversation._id}/messages`, { content: "only once" }, key);
		const second = await api.post(`/conversations/${conversation._id}/messages`, { content: "only once" }, key);
		expect(first.status).toBe(200);
		expect(second.status).toBe(200);
		expect(second.body.data.id).toBe(first.body.data.id);
		expect(x.sandbox.received().filter(d => d.text === "only once")).toHaveLength(1);
		expect(await MessageModel.countDocuments({ content: "only once" })).toBe(1);
	});

	test("when X refuses the DM the message is failed with X's reason", async () => {
		const { user } = await connect("m-fail");
		const conversation = await customerWrites(user.id, "700003", "hi");
		x.sandbox.failNext({ status: 403, detail: "You cannot send messages to this user." });
		const res = await client(node.url, tokenFor("m-fail")).post(`/conversations/${conversation._id}/messages`, { content: "will bounce" });
		expect(res.status).toBe(200);
		expect(res.body.data.status).toBe("failed");
		expect(res.body.data.failureReason).toMatch(/cannot send messages to this user/);
	});

	test("X's 429 is our 429 RATE_LIMITED with Retry-After, and leaves no message behind", async () => {
		const { user } = await connect("m-x429");
		const conversation = await customerWrites(user.id, "700004", "hi");
		x.sandbox.rateLimitNext({ resetInSeconds: 120 });
		const res = await client(node.url, tokenFor("m-x429")).post(`/conversations/${conversation._id}/messages`, { content: "too soon" });
		expect(res.status).toBe(429);
		expect(res.body.errorCode).toBe("RATE_LIMITED");
		expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(60);
		expect(await MessageModel.countDocuments({ content: "too soon" })).toBe(0);
	});

	test("our own per-account pacing answers 429 before anything reaches X", async () => {
		const { user } = await connect("m-pace");
		const conversation = await customerWrites(user.id, "700005", "hi");
		const api = client(node.url, tokenFor("m-pace"));
		const statuses: number[] = [];
		for (let i = 0; i < 5; i++)
			statuses.push((await api.post(`/conversations/${conversation._id}/messages`, { content: `paced ${i}` })).status);
		expect(statuses).toEqual([200, 200, 200, 200, 429]);
		expect(x.sandbox.received().filter(d => d.text.startsWith("paced "))).toHaveLength(4);
	});

	test("content over 10,000 characters is a 400 MESSAGE_TOO_LONG; a closed conversation is a 409", async () => {
		const { user } = await connect("m-rules");
		const conversation = await customerWrites(user.id, "700006", "hi");
		const api = client(node.url, tokenFor("m-rules"));
		const long = await api.post(`/conversations/${conversation._id}/messages`, { content: "x".repeat(10_001) });
		expect(long.status).toBe(400);
		expect(long.body.errorCode).toBe("MESSAGE_TOO_LONG");
		expect((await api.put(`/conversations/${conversation._id}/close`, {})).status).toBe(200);
		const closed = await api.post(`/conversations/${conversation._id}/messages`, { content: "late" });
		expect(closed.status).toBe(409);
		expect(x.sandbox.received().filter(d => d.text === "late")).toHaveLength(0);
	});

	test("assign, filters, the contact's conversations, and a long thread read with a cursor", async () => {
		const { account, user } = await connect("m-list");
		const conversation = await customerWrites(user.id, "700007", "first question");
		for (let i = 0; i < 4; i++) await customerWrites(user.id, "700007", `more ${i}`);
		const api = client(node.url, tokenFor("m-list"));
		expect((await api.post(`/conversations/${conversation._id}/assign`, { userId: "agent-9" })).body.data.assignedToUserId).toBe("agent-9");
		expect((await api.get("/conversations?assignedTo=agent-9")).body.data.map((c: { id: string }) => c.id)).toEqual([conversation._id]);
		expect((await api.get(`/conversations?accountId=${account.id}&status=closed`)).body.data).toEqual([]);
		const mine = await api.get(`/contacts/${conversation.contactId}/conversations?status=open`);
		expect(mine.body.data).toEqual([
			expect.objectContaining({ id: conversation._id, contactId: conversation.contactId, status: "open", messageCount: 5 }),
		]);
		const page1 = await api.get(`/conversations/${conversation._id}?messagesLimit=3`);
		expect(page1.body.data.messages.map((m: { content: string }) => m.content)).toEqual(["first question", "more 0", "more 1"]);
		const page2 = await api.get(`/conversations/${conversation._id}?messagesLimit=3&messagesAfter=${page1.body.data.messagesCursor}`);
		expect(page2.body.data.messages.map((m: { content: string }) => m.content)).toEqual(["more 2", "more 3"]);
		expect(page2.body.data.messagesCursor).toBeNull();
		expect((await api.get(`/conversations/${conversation._id}?includeMessages=false`)).body.data.messages).toBeUndefined();
	});

	test("another merchant's conversation and contact answer 404 on every route", async () => {
		const { user } = await connect("m-owner2");
		const conversation = await customerWrites(user.id, "700008", "private");
		const other = client(node.url, tokenFor("m-stranger"));
		const id = conversation._id;
		const responses = [
			await other.get(`/conversations/${id}`),
			await other.put(`/conversations/${id}/close`, {}),
			await other.post(`/conversations/${id}/assign`, { userId: "x" }),
			await other.post(`/conversations/${id}/messages`, { content: "intrusion" }),
			await other.get(`/contacts/${conversation.contactId}/conversations`),
		];
		expect(responses.map(r => r.status)).toEqual([404, 404, 404, 404, 404]);
		expect((await other.get("/conversations")).body.data).toEqual([]);
		expect(x.sandbox.received().filter(d => d.text === "intrusion")).toHaveLength(0);
		expect((await ConversationModel.findById(id).lean())!.status).toBe("open");
	});

	test("a customer writing STOP is opted out of automated messages", async () => {
		const { user } = await connect("m-stop");
		const conversation = await customerWrites(user.id, "700009", "STOP");
		await waitUntil(async () => (await ContactModel.findById(conversation.contactId).lean())?.optedOut === true, 5000, "opted out");
		const result = await node.broker.call(
			"inbox.sendToContact",
			{ contactId: conversation.contactId, content: "promo", origin: "campaign:c1" },
			{ meta: { merchantId: "m-stop" } }
		);
		expect(result).toEqual({ status: "skipped", reason: "opted_out" });
	});
});
