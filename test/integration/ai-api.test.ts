import { customerWrites } from "../helpers/inbox.ts";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";
import { AiConfigModel } from "../../models/ai-config.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";

// The chatbot's API without ANTHROPIC_API_KEY: the built-in classifier answers. Configuration
// per account, answers in the contract's shape, and their effects (escalation, opt-out).

delete process.env.ANTHROPIC_API_KEY;
delete process.env.AI_MODELS;
useFreshDatabase("ai_api");

let node: TestNode;
beforeAll(async () => {
	node = await startNode({ services: ["api", "accounts", "inbox", "contacts", "ai"] });
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

let seq = 0;
/** An account of `merchantId` with a customer who wrote `text`: its open conversation. */
async function customerWrote(merchantId: string, text: string) {
	const { account } = await createAccount(merchantId);
	const customerId = String(7_000_000 + ++seq);
	await customerWrites(node.broker, {
		merchantId,
		accountId: account._id,
		accountTwitterUserId: account.twitterUserId,
		customerId,
		eventId: `ev-${seq}`,
		text,
	});
	const conversation = (await ConversationModel.findOne({ accountId: account._id }).lean<Conversation>())!;
	return { account, conversation };
}

describe("PUT/GET /ai/accounts/:accountId/config", () => {
	test("an account never configured answers the defaults: off, a current Claude model, the contract's example values", async () => {
		const { account } = await createAccount("m-ai-defaults");
		const res = await client(node.url, tokenFor("m-ai-defaults")).get(`/ai/accounts/${account._id}/config`);
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({
			accountId: account._id,
			enabled: false,
			model: "claude-haiku-4-5",
			systemPrompt: "",
			temperature: 0.7,
			escalationThreshold: 0.6,
			maxReplyChars: 1000,
			provider: "builtin",
			updatedAt: null,
		});
		expect(res.body.data.allowedModels).toEqual(expect.arrayContaining(["claude-sonnet-4-6", "claude-haiku-4-5"]));
	});

	test("PUT stores the settings and GET gives them back; a later PUT changes only the fields it names", async () => {
		const { account } = await createAccount("m-ai-put");
		const api = client(node.url, tokenFor("m-ai-put"));
		const body = {
			enabled: true,
			model: "claude-sonnet-4-6",
			systemPrompt: "Bạn là trợ lý ảo của GoodGo Shop...",
			temperature: 0.3,
			escalationThreshold: 0.5,
			maxReplyChars: 500,
		};
		const put = await api.put(`/ai/accounts/${account._id}/config`, body);
		expect(put.status).toBe(200);
		expect(put.body.data).toMatchObject({ accountId: account._id, ...body });
		expect(put.body.data.updatedAt).toEqual(expect.any(String));

		const again = await api.put(`/ai/accounts/${account._id}/config`, { enabled: false });
		expect(again.body.data).toMatchObject({ ...body, enabled: false });
		expect((await api.get(`/ai/accounts/${account._id}/config`)).body.data).toMatchObject({ ...body, enabled: false });
		expect(await AiConfigModel.countDocuments({ _id: account._id })).toBe(1);
	});

	test("the contract's example model gpt-4 is a 422 that lists the allowed Claude models, and nothing is stored", async () => {
		const { account } = await createAccount("m-ai-gpt");
		const api = client(node.url, tokenFor("m-ai-gpt"));
		const body = {
			enabled: true,
			model: "gpt-4",
			systemPrompt: "Bạn là trợ lý ảo của GoodGo Shop...",
			temperature: 0.7,
			escalationThreshold: 0.6,
		};
		const res = await api.put(`/ai/accounts/${account._id}/config`, body, { "Accept-Language": "en" });
		expect(res.status).toBe(422);
		expect(res.body).toMatchObject({ success: false, errorCode: "VALIDATION_ERROR" });
		expect(res.body.error).toMatch(/gpt-4.*not available.*claude-sonnet-4-6/);
		expect(res.body.details).toEqual([
			{ field: "model", message: expect.stringMatching(/^must be one of: .*claude-haiku-4-5.*claude-sonnet-4-6/) },
		]);
		expect(await AiConfigModel.countDocuments({ _id: account._id })).toBe(0);
	});

	test.each([
		["a system prompt of 8,001 characters", { systemPrompt: "x".repeat(8001) }, "systemPrompt"],
		["a temperature above 1", { temperature: 1.5 }, "temperature"],
		["a negative escalation threshold", { escalationThreshold: -0.1 }, "escalationThreshold"],
		["maxReplyChars above X's 10,000", { maxReplyChars: 20_000 }, "maxReplyChars"],
		["an unknown field", { enabled: true, unknown: 1 }, "unknown"],
	])("%s is a 422 on it", async (_what, body, field) => {
		const { account } = await createAccount("m-ai-invalid");
		const res = await client(node.url, tokenFor("m-ai-invalid")).put(`/ai/accounts/${account._id}/config`, body);
		expect(res.status).toBe(422);
		expect(res.body.details.map((d: { field: string }) => d.field)).toContain(field);
	});

	test("a system prompt of exactly 8,000 characters is accepted", async () => {
		const { account } = await createAccount("m-ai-8000");
		const res = await client(node.url, tokenFor("m-ai-8000")).put(`/ai/accounts/${account._id}/config`, { systemPrompt: "y".repeat(8000) });
		expect(res.status).toBe(200);
		expect(res.body.data.systemPrompt).toHaveLength(8000);
	});

	test("another merchant's account is a 404, for reading and for writing", async () => {
		const { account } = await createAccount("m-ai-owner");
		const other = client(node.url, tokenFor("m-ai-intruder"));
		expect((await other.get(`/ai/accounts/${account._id}/config`)).status).toBe(404);
		expect((await other.put(`/ai/accounts/${account._id}/config`, { enabled: true })).status).toBe(404);
		expect(await AiConfigModel.countDocuments({ _id: account._id })).toBe(0);
	});
});

describe("POST /ai/conversations/:conversationId/message", () => {
	test("the contract's example: a check_order answer in Vietnamese, confident, no escalation; nothing is sent", async () => {
		const { conversation } = await customerWrote("m-ai-msg", "Xin chào");
		const res = await client(node.url, tokenFor("m-ai-msg")).post(`/ai/conversations/${conversation._id}/message`, {
			message: "Tôi muốn kiểm tra đơn hàng của tôi",
		});
		expect(res.status).toBe(200);
		expect(res.body).toEqual({
			success: true,
			data: {
				message: "Dạ, tôi có thể giúp bạn kiểm tra đơn hàng. Vui lòng cho tôi biết mã đơn hàng của bạn.",
				intent: "check_order",
				confidence: expect.any(Number),
				needsHumanEscalation: false,
				provider: "builtin",
			},
		});
		expect(res.body.data.confidence).toBeGreaterThanOrEqual(0.9);
		expect(await MessageModel.countDocuments({ conversationId: conversation._id, direction: "outbound" })).toBe(0);
		expect((await ConversationModel.findById(conversation._id).lean())!.needsHuman).toBe(false);
	});

	test("an English message gets an English answer", async () => {
		const { conversation } = await customerWrote("m-ai-en", "Hello");
		const res = await client(node.url, tokenFor("m-ai-en")).post(`/ai/conversations/${conversation._id}/message`, {
			message: "How long does delivery take to Singapore?",
		});
		expect(res.body.data).toMatchObject({ intent: "shipping", needsHumanEscalation: false });
		expect(res.body.data.message).toMatch(/delivery address/);
	});

	test("a complaint escalates: the conversation is flagged for a human and listed under needsHuman=true", async () => {
		const { conversation } = await customerWrote("m-ai-complaint", "Hàng bị hỏng");
		const api = client(node.url, tokenFor("m-ai-complaint"));
		const res = await api.post(`/ai/conversations/${conversation._id}/message`, {
			message: "Hàng giao tới bị hỏng rồi, tôi muốn khiếu nại",
		});
		expect(res.body.data).toMatchObject({ intent: "complaint", needsHumanEscalation: true });
		expect((await ConversationModel.findById(conversation._id).lean())!.needsHuman).toBe(true);
		const flagged = await api.get("/conversations?needsHuman=true");
		expect(flagged.body.data.map((c: { id: string }) => c.id)).toEqual([conversation._id]);
	});

	test("asking for a person escalates", async () => {
		const { conversation } = await customerWrote("m-ai-human", "Alo");
		const res = await client(node.url, tokenFor("m-ai-human")).post(`/ai/conversations/${conversation._id}/message`, {
			message: "Can I talk to a real person please?",
		});
		expect(res.body.data).toMatchObject({ intent: "human_request", needsHumanEscalation: true });
		expect(res.body.data.message).toMatch(/member of our team/);
		expect((await ConversationModel.findById(conversation._id).lean())!.needsHuman).toBe(true);
	});

	test("a confidence below the account's threshold escalates; with a threshold of 0 the same message does not", async () => {
		const { account, conversation } = await customerWrote("m-ai-threshold", "Chào");
		const api = client(node.url, tokenFor("m-ai-threshold"));
		const unsure = await api.post(`/ai/conversations/${conversation._id}/message`, { message: "Shop mở cửa đến mấy giờ?" });
		expect(unsure.body.data).toMatchObject({ intent: "other", needsHumanEscalation: true });
		expect(unsure.body.data.confidence).toBeLessThan(0.6);

		await ConversationModel.updateOne({ _id: conversation._id }, { $set: { needsHuman: false } });
		await api.put(`/ai/accounts/${account._id}/config`, { escalationThreshold: 0 });
		const relaxed = await api.post(`/ai/conversations/${conversation._id}/message`, { message: "Shop mở cửa đến mấy giờ?" });
		expect(relaxed.body.data).toMatchObject({ intent: "other", needsHumanEscalation: false });
		expect((await ConversationModel.findById(conversation._id).lean())!.needsHuman).toBe(false);
	});

	test("an opt-out marks the contact opted out", async () => {
		const { conversation } = await customerWrote("m-ai-optout", "Chào shop");
		const res = await client(node.url, tokenFor("m-ai-optout")).post(`/ai/conversations/${conversation._id}/message`, {
			message: "Đừng nhắn tin cho tôi nữa",
		});
		expect(res.body.data).toMatchObject({ intent: "opt_out", needsHumanEscalation: false });
		expect((await ContactModel.findById(conversation.contactId).lean())!.optedOut).toBe(true);
	});

	test("the reply respects the account's maxReplyChars", async () => {
		const { account, conversation } = await customerWrote("m-ai-cap", "Chào");
		const api = client(node.url, tokenFor("m-ai-cap"));
		await api.put(`/ai/accounts/${account._id}/config`, { maxReplyChars: 30 });
		const res = await api.post(`/ai/conversations/${conversation._id}/message`, { message: "Tôi muốn kiểm tra đơn hàng của tôi" });
		expect(Array.from(res.body.data.message as string).length).toBeLessThanOrEqual(30);
		expect(res.body.data.message.endsWith("…")).toBe(true);
	});

	test("another merchant's conversation is a 404; a malformed id or an empty message is a 422", async () => {
		const { conversation } = await customerWrote("m-ai-conv-owner", "Chào");
		const other = client(node.url, tokenFor("m-ai-conv-other"));
		expect((await other.post(`/ai/conversations/${conversation._id}/message`, { message: "hi" })).status).toBe(404);
		expect((await other.post(`/ai/conversations/not-a-uuid/message`, { message: "hi" })).status).toBe(422);
		const owner = client(node.url, tokenFor("m-ai-conv-owner"));
		expect((await owner.post(`/ai/conversations/${conversation._id}/message`, { message: "" })).status).toBe(422);
		expect((await owner.post(`/ai/conversations/${conversation._id}/message`, {})).status).toBe(422);
	});
});
