import { randomBytes } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, xSignature } from "../helpers/x-events.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { AiReplyModel, type AiReply } from "../../models/ai-reply.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel, type Message } from "../../models/message.model.ts";

// The bot end to end: a customer's DM arrives as a signed X webhook, the inbox stores it and
// announces message.received, the bot decides and its reply goes out through the x service to
// the X sandbox. The built-in classifier answers (no ANTHROPIC_API_KEY), so replies are known.
//
// Time: whether a message falls inside business hours is judged at the moment the customer
// wrote, which the test sets in the webhook payload (X's created_timestamp); no wall clock.

delete process.env.ANTHROPIC_API_KEY;
useFreshDatabase("ai_auto");

// Mondays 08:00–17:00 in Ho Chi Minh City (UTC+7).
const HOURS = { enabled: true, timezone: "Asia/Ho_Chi_Minh", schedule: { monday: { start: "08:00", end: "17:00" } } };
const MONDAY_10_LOCAL = new Date("2026-01-19T03:00:00Z");
const MONDAY_20_LOCAL = new Date("2026-01-19T13:00:00Z");

let x: TestSandbox;
let node: TestNode;
beforeAll(async () => {
	x = await startTestSandbox();
	// Three sends per account per 15 minutes, so a test can reach the limit.
	process.env.SEND_LIMIT_USER_PER_15MIN = "3";
	node = await startNode({ services: ["api", "accounts", "webhooks", "inbox", "x", "contacts", "ai"] });
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	delete process.env.SEND_LIMIT_USER_PER_15MIN;
	await dropDatabase();
});

let userSeq = 6_100_000;
/** An account connected through X, with the bot switched on (and business hours, unless told otherwise). */
async function botAccount(merchantId: string, opts: { autoReplyEnabled?: boolean; businessHours?: object; aiEnabled?: boolean } = {}) {
	const user = x.sandbox.addUser({
		token: `tok-${randomBytes(6).toString("hex")}`,
		tokenSecret: `sec-${randomBytes(12).toString("hex")}`,
		id: String(userSeq++),
	});
	const api = client(node.url, tokenFor(merchantId));
	const account = (await api.post("/accounts", { oauthToken: user.token, oauthTokenSecret: user.tokenSecret })).body.data;
	expect(
		(
			await api.put(`/accounts/${account.id}`, {
				autoReplyEnabled: opts.autoReplyEnabled ?? true,
				businessHours: opts.businessHours ?? HOURS,
			})
		).status
	).toBe(200);
	expect((await api.put(`/ai/accounts/${account.id}/config`, { enabled: opts.aiEnabled ?? true })).status).toBe(200);
	return { account, user, api };
}

let eventSeq = 0;
/** The customer's DM as X delivers it, signed with the app's consumer secret; resolves with the stored message. */
async function customerWrites(accountUserId: string, customerId: string, text: string, at: Date): Promise<Message> {
	const eventId = `${Date.now()}${String(++eventSeq).padStart(4, "0")}`;
	const payload = dmPayload({
		forUserId: accountUserId,
		eventId,
		senderId: customerId,
		recipientId: accountUserId,
		text,
		at,
		users: { [customerId]: { screen_name: `cust_${customerId}`, name: `Customer ${customerId}` } },
	});
	expect((await postWebhook(node.url, payload, { signature: xSignature(JSON.stringify(payload), x.consumerSecret) })).status).toBe(200);
	let stored: Message | null = null;
	await waitUntil(
		async () => Boolean((stored = await MessageModel.findOne({ twitterMessageId: eventId }).lean<Message>())),
		10_000,
		`"${text}" stored`
	);
	return stored!;
}

/** What the bot did about `message`, once it is done with it. */
async function botOutcome(message: Message): Promise<AiReply> {
	let row: AiReply | null = null;
	await waitUntil(
		async () => {
			row = await AiReplyModel.findById(message._id).lean<AiReply>();
			return Boolean(row && row.status !== "answered");
		},
		10_000,
		"the bot's decision"
	);
	return row!;
}

const dmsTo = (customerId: string) => x.sandbox.received().filter(d => d.recipientId === customerId);

describe("auto-reply through the X sandbox", () => {
	test("outside business hours the bot answers: the DM reaches X and is stored as the bot's, sent", async () => {
		const { user } = await botAccount("m-auto-out");
		const inbound = await customerWrites(user.id, "61000001", "Tôi muốn kiểm tra đơn hàng của tôi", MONDAY_20_LOCAL);
		const outcome = await botOutcome(inbound);
		expect(outcome).toMatchObject({ status: "sent", intent: "check_order", provider: "builtin", needsHumanEscalation: false });

		const expected = "Dạ, tôi có thể giúp bạn kiểm tra đơn hàng. Vui lòng cho tôi biết mã đơn hàng của bạn.";
		expect(dmsTo("61000001")).toEqual([expect.objectContaining({ senderId: user.id, text: expected })]);
		const reply = await MessageModel.findById(outcome.sentMessageId).lean<Message>();
		expect(reply).toMatchObject({
			conversationId: inbound.conversationId,
			direction: "outbound",
			isFromBot: true,
			origin: "bot",
			status: "sent",
			content: expected,
		});
		expect(reply!.twitterMessageId).toBe(dmsTo("61000001")[0].dmEventId);
	});

	test("inside business hours the bot leaves the message to agents: nothing is sent", async () => {
		const { user } = await botAccount("m-auto-in");
		const inbound = await customerWrites(user.id, "61000002", "Tôi muốn kiểm tra đơn hàng của tôi", MONDAY_10_LOCAL);
		expect(await botOutcome(inbound)).toMatchObject({ status: "skipped", reason: "business_hours" });
		expect(dmsTo("61000002")).toHaveLength(0);
		expect(await MessageModel.countDocuments({ conversationId: inbound.conversationId, direction: "outbound" })).toBe(0);
	});

	test("with business hours off the bot answers at any time, in the customer's language", async () => {
		const { user } = await botAccount("m-auto-always", { businessHours: { enabled: false } });
		const inbound = await customerWrites(user.id, "61000003", "How much is this bag?", MONDAY_10_LOCAL);
		expect(await botOutcome(inbound)).toMatchObject({ status: "sent", intent: "pricing" });
		expect(dmsTo("61000003")).toEqual([expect.objectContaining({ text: expect.stringMatching(/price/) })]);
	});

	test("a replayed message.received sends nothing new: the inbox answers the first send for the key bot:<messageId>", async () => {
		const { user } = await botAccount("m-auto-replay");
		const inbound = await customerWrites(user.id, "61000004", "Chào shop", MONDAY_20_LOCAL);
		const first = await botOutcome(inbound);
		expect(first.status).toBe("sent");
		// As if the node died after sending, before recording it: the decision is there, unfinished.
		await AiReplyModel.updateOne({ _id: inbound._id }, { $set: { status: "answered", sentMessageId: null } });
		const event = {
			merchantId: "m-auto-replay",
			accountId: inbound.accountId,
			contactId: inbound.contactId,
			conversationId: inbound.conversationId,
			messageId: inbound._id,
			content: inbound.content,
			at: inbound.sentAt,
		};
		await node.broker.emit("message.received", event, { groups: ["ai"] }); // resolves once the handler is done
		await node.broker.emit("message.received", event, { groups: ["ai"] });

		const again = (await AiReplyModel.findById(inbound._id).lean<AiReply>())!;
		expect(again).toMatchObject({ status: "sent", sentMessageId: first.sentMessageId });
		expect(dmsTo("61000004")).toHaveLength(1);
		expect(await MessageModel.countDocuments({ conversationId: inbound.conversationId, direction: "outbound" })).toBe(1);
	});

	test("an escalated conversation silences the bot until an agent answers; then the bot answers again", async () => {
		const { user, api } = await botAccount("m-auto-esc");
		const complaint = await customerWrites(user.id, "61000005", "Shop giao sai hàng cho tôi, tôi muốn khiếu nại", MONDAY_20_LOCAL);
		expect(await botOutcome(complaint)).toMatchObject({
			status: "sent",
			intent: "complaint",
			needsHumanEscalation: true,
			escalationReason: "complaint",
		});
		expect((await ConversationModel.findById(complaint.conversationId).lean())!.needsHuman).toBe(true);
		expect((await api.get("/conversations?needsHuman=true")).body.data.map((c: { id: string }) => c.id)).toEqual([
			complaint.conversationId,
		]);

		const meanwhile = await customerWrites(user.id, "61000005", "Alo shop ơi?", new Date(MONDAY_20_LOCAL.getTime() + 60_000));
		expect(await botOutcome(meanwhile)).toMatchObject({ status: "skipped", reason: "needs_human" });
		expect(dmsTo("61000005")).toHaveLength(1);

		expect(
			(await api.post(`/conversations/${complaint.conversationId}/messages`, { content: "Dạ em xin lỗi, em đổi hàng cho anh ngay ạ." }))
				.status
		).toBe(200);
		// The writer of the account applies the reply (and clears the flag) before anything the customer writes next.
		await waitUntil(
			async () => (await ConversationModel.findById(complaint.conversationId).lean())!.needsHuman === false,
			10_000,
			"needsHuman cleared"
		);

		const later = await customerWrites(user.id, "61000005", "Cảm ơn shop", new Date(MONDAY_20_LOCAL.getTime() + 120_000));
		expect(await botOutcome(later)).toMatchObject({ status: "sent", intent: "greeting" });
		expect(dmsTo("61000005")).toHaveLength(3); // the bot, the agent, the bot
	});

	test("with autoReplyEnabled off, or the AI config off, the bot does nothing", async () => {
		for (const [merchantId, opts, customerId] of [
			["m-auto-off", { autoReplyEnabled: false }, "61000006"],
			["m-auto-ai-off", { aiEnabled: false }, "61000007"],
		] as const) {
			const { user } = await botAccount(merchantId, opts);
			const inbound = await customerWrites(user.id, customerId, "Chào shop", MONDAY_20_LOCAL);
			// Handle the event once more and wait for it: whatever the webhook's own delivery did, this one did nothing.
			await node.broker.emit(
				"message.received",
				{
					merchantId,
					accountId: inbound.accountId,
					contactId: inbound.contactId,
					conversationId: inbound.conversationId,
					messageId: inbound._id,
					content: inbound.content,
					at: inbound.sentAt,
				},
				{ groups: ["ai"] }
			);
			expect(await AiReplyModel.countDocuments({ _id: inbound._id })).toBe(0);
			expect(dmsTo(customerId)).toHaveLength(0);
		}
	});

	test("bot replies count against the send limits: past the limit the reply is not sent and the conversation waits for an agent", async () => {
		const { user } = await botAccount("m-auto-limit", { businessHours: { enabled: false } });
		const outcomes: AiReply[] = [];
		for (let i = 0; i < 4; i++) outcomes.push(await botOutcome(await customerWrites(user.id, `6200000${i}`, "Chào shop", MONDAY_20_LOCAL)));
		expect(outcomes.map(o => o.status)).toEqual(["sent", "sent", "sent", "failed"]);
		expect(outcomes[3].reason).toBe("RATE_LIMITED");
		expect(dmsTo("62000003")).toHaveLength(0);
		const waiting = await ConversationModel.findOne({ accountId: outcomes[3].accountId, contactId: outcomes[3].contactId }).lean();
		expect(waiting!.awaitingReplySince).not.toBeNull();
	});
});
