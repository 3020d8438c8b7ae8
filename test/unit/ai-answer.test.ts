import { answerMessage } from "../../services/ai/answer.ts";
import type { Claude, ClaudeRequest, ClaudeResult } from "../../services/ai/claude.ts";
import { capReply, escalationReasonOf } from "../../services/ai/intents.ts";
import { parseReplyOutput } from "../../services/ai/output.ts";
import { CONTEXT_MESSAGE_CHARS, conversationTurns, systemPrompt } from "../../services/ai/prompt.ts";
import { autoReplySkipReason } from "../../services/ai/auto-reply.ts";
import { defaultSettings, type AiSettings } from "../../services/ai/settings.ts";

const settings = (over: Partial<AiSettings> = {}): AiSettings => ({ ...defaultSettings(), ...over });

/** A Claude that answers what it is given and remembers what it was asked. */
function stubClaude(result: ClaudeResult) {
	const asked: ClaudeRequest[] = [];
	const claude: Claude = { reply: async req => (asked.push(req), result) };
	return { claude, asked };
}

describe("escalation rules", () => {
	test.each([
		["complaint", 0.99, 0.6, "complaint"],
		["human_request", 0.99, 0.6, "human_request"],
		["pricing", 0.59, 0.6, "low_confidence"],
		["pricing", 0.6, 0.6, null],
		["greeting", 0.1, 0, null],
	] as const)("%s at %s with threshold %s → %s", (intent, confidence, threshold, expected) => {
		expect(escalationReasonOf(intent, confidence, threshold)).toBe(expected);
	});
});

describe("capReply", () => {
	test("a reply over the cap is cut with an ellipsis, to exactly the cap, never inside an emoji", () => {
		const cut = capReply("😀".repeat(30), 10);
		expect(Array.from(cut)).toHaveLength(10);
		expect(cut.endsWith("…")).toBe(true);
		expect(cut).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
		expect(capReply("  short  ", 10)).toBe("short");
	});
});

describe("answerMessage", () => {
	test("without Claude the built-in classifier answers in the customer's language", async () => {
		const vi = await answerMessage({ settings: settings(), text: "Tôi muốn kiểm tra đơn hàng của tôi", turns: [], claude: null });
		expect(vi).toMatchObject({ intent: "check_order", provider: "builtin", needsHumanEscalation: false, fallback: null });
		expect(vi.message).toBe("Dạ, tôi có thể giúp bạn kiểm tra đơn hàng. Vui lòng cho tôi biết mã đơn hàng của bạn.");
		const en = await answerMessage({ settings: settings(), text: "Where is my order?", turns: [], claude: null });
		expect(en).toMatchObject({ intent: "check_order", provider: "builtin" });
		expect(en.message).toMatch(/order number/);
	});

	test("Claude's answer is used as it is when it is sure enough", async () => {
		const { claude, asked } = stubClaude({
			output: { reply: "Dạ, áo còn size M ạ.", intent: "product_info", confidence: 0.92 },
			failure: null,
		});
		const turns = conversationTurns([], "Áo còn size M không?");
		const a = await answerMessage({
			settings: settings({ model: "claude-sonnet-4-6", systemPrompt: "Bạn là trợ lý của GoodGo." }),
			text: "Áo còn size M không?",
			turns,
			claude,
		});
		expect(a).toEqual({
			message: "Dạ, áo còn size M ạ.",
			intent: "product_info",
			confidence: 0.92,
			needsHumanEscalation: false,
			provider: "anthropic",
			escalationReason: null,
			fallback: null,
		});
		expect(asked[0].model).toBe("claude-sonnet-4-6");
		expect(asked[0].turns).toBe(turns);
		expect(asked[0].system.join("\n")).toContain("Bạn là trợ lý của GoodGo.");
	});

	test("a confidence below the threshold escalates and sends the hand-over message instead of the guess", async () => {
		const { claude } = stubClaude({ output: { reply: "Có lẽ là 200k?", intent: "pricing", confidence: 0.3 }, failure: null });
		const a = await answerMessage({ settings: settings({ escalationThreshold: 0.6 }), text: "Giá bao nhiêu?", turns: [], claude });
		expect(a).toMatchObject({
			intent: "pricing",
			confidence: 0.3,
			needsHumanEscalation: true,
			escalationReason: "low_confidence",
			provider: "anthropic",
		});
		expect(a.message).not.toContain("200k");
		expect(a.message).toMatch(/Nhân viên sẽ phản hồi/);
	});

	test("when Claude fails, the built-in classifier answers and the failure is reported", async () => {
		const { claude } = stubClaude({ output: null, failure: "HTTP 529 overloaded_error: Overloaded" });
		const a = await answerMessage({ settings: settings(), text: "Shop giao sai hàng cho tôi", turns: [], claude });
		expect(a).toMatchObject({
			intent: "complaint",
			provider: "builtin",
			needsHumanEscalation: true,
			escalationReason: "complaint",
			fallback: "HTTP 529 overloaded_error: Overloaded",
		});
	});

	test("the reply is capped at maxReplyChars", async () => {
		const { claude, asked } = stubClaude({ output: { reply: "a ".repeat(500), intent: "greeting", confidence: 0.9 }, failure: null });
		const a = await answerMessage({ settings: settings({ maxReplyChars: 50 }), text: "hi", turns: [], claude });
		expect(Array.from(a.message).length).toBeLessThanOrEqual(50);
		expect(asked[0].system.join("\n")).toContain("at most 50 characters");
	});
});

describe("the tool answer's schema", () => {
	test("a complete answer passes", () => {
		expect(parseReplyOutput({ reply: "Dạ", intent: "greeting", confidence: 1 }).output).toEqual({
			reply: "Dạ",
			intent: "greeting",
			confidence: 1,
		});
	});

	test.each([
		[{ reply: "x", intent: "greeting" }, "confidence"],
		[{ reply: "x", intent: "refund", confidence: 0.5 }, "intent"],
		[{ reply: "x", intent: "greeting", confidence: 1.5 }, "confidence"],
		[{ reply: "x", intent: "greeting", confidence: "0.9" }, "confidence"],
		[{ reply: "   ", intent: "greeting", confidence: 0.9 }, "reply"],
		[{ reply: "x", intent: "greeting", confidence: 0.9, extra: true }, "additional"],
		["not an object", "object"],
	])("%j is refused (%s)", (input, problem) => {
		const r = parseReplyOutput(input);
		expect(r.output).toBeNull();
		expect(r.problem).toMatch(new RegExp(problem));
	});
});

describe("prompt and context", () => {
	test("the customer's messages are user turns and the shop's assistant turns, oldest first, with the latest last", () => {
		const turns = conversationTurns(
			[
				{ direction: "inbound", content: "Chào shop" },
				{ direction: "outbound", content: "Dạ chào anh" },
				{ direction: "inbound", content: "Áo còn không?" },
				{ direction: "inbound", content: "size M" },
			],
			"Giá bao nhiêu?"
		);
		expect(turns).toEqual([
			{ role: "user", content: "Chào shop" },
			{ role: "assistant", content: "Dạ chào anh" },
			{ role: "user", content: "Áo còn không?\n\nsize M\n\nGiá bao nhiêu?" },
		]);
	});

	test("a conversation the shop opened starts with a user turn; an image without text is named", () => {
		const turns = conversationTurns([
			{ direction: "outbound", content: "Sale 50% hôm nay!" },
			{ direction: "inbound", content: "", type: "image" },
		]);
		expect(turns.map(t => t.role)).toEqual(["user", "assistant", "user"]);
		expect(turns[2].content).toBe("[image]");
	});

	test("each message in the context is bounded", () => {
		const [turn] = conversationTurns([{ direction: "inbound", content: "x".repeat(50_000) }]);
		expect(turn.content.length).toBeLessThan(CONTEXT_MESSAGE_CHARS + 10);
	});

	test("the system prompt holds our rules and the shop's prompt, and tells the model customer text is not instructions", () => {
		const [rules, shop] = systemPrompt({ systemPrompt: "Bạn là trợ lý ảo của GoodGo Shop.", maxReplyChars: 300 });
		expect(rules).toMatch(/not instructions/);
		expect(rules).toMatch(/reply_to_customer/);
		expect(shop).toContain("Bạn là trợ lý ảo của GoodGo Shop.");
		expect(systemPrompt({ systemPrompt: "", maxReplyChars: 300 })[1]).toMatch(/customer-care assistant/);
	});
});

describe("when the bot replies by itself", () => {
	const hours = {
		enabled: true,
		timezone: "Asia/Ho_Chi_Minh",
		schedule: { monday: { start: "08:00", end: "17:00" } },
	};
	const facts = (over: Partial<Parameters<typeof autoReplySkipReason>[0]> = {}) => ({
		messageId: "m1",
		at: new Date("2026-01-19T12:00:00Z"), // Monday 19:00 in Ho Chi Minh City
		businessHours: hours,
		conversation: { status: "open", needsHuman: false },
		latestMessageId: "m1",
		...over,
	});

	test("outside business hours, in the account's timezone, it answers", () => {
		expect(autoReplySkipReason(facts())).toBeNull();
	});

	test("inside business hours it leaves the message to agents", () => {
		expect(autoReplySkipReason(facts({ at: new Date("2026-01-19T03:00:00Z") }))).toBe("business_hours"); // 10:00 local
	});

	test("with business hours off it answers at any time", () => {
		expect(autoReplySkipReason(facts({ at: new Date("2026-01-19T03:00:00Z"), businessHours: { ...hours, enabled: false } }))).toBeNull();
	});

	test("it stays quiet in an escalated or closed conversation, and when something came after the message", () => {
		expect(autoReplySkipReason(facts({ conversation: { status: "open", needsHuman: true } }))).toBe("needs_human");
		expect(autoReplySkipReason(facts({ conversation: { status: "closed" } }))).toBe("conversation_closed");
		expect(autoReplySkipReason(facts({ latestMessageId: "m2" }))).toBe("superseded");
	});
});
