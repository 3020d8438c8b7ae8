import { classify, detectLanguage } from "../../services/ai/classifier.ts";
import type { Intent, Language } from "../../services/ai/intents.ts";

// The built-in classifier on messages customers write, in Vietnamese with and without
// diacritics, and in English. Each row: the message, the intent it must get, its language.

const TABLE: [message: string, intent: Intent, language: Language][] = [
	// greeting
	["Xin chào shop", "greeting", "vi"],
	["xin chao shop", "greeting", "vi"],
	["Chào shop ạ!", "greeting", "vi"],
	["Cảm ơn shop nhiều nhé", "greeting", "vi"],
	["Hello!", "greeting", "en"],
	["Hi there, good morning", "greeting", "en"],
	["Thanks a lot", "greeting", "en"],
	// check_order
	["Tôi muốn kiểm tra đơn hàng của tôi", "check_order", "vi"],
	["toi muon kiem tra don hang cua toi", "check_order", "vi"],
	["Mã đơn DH12345 giờ sao rồi shop?", "check_order", "vi"],
	["Tôi đã đặt 3 ngày mà chưa nhận được hàng", "check_order", "vi"],
	["cho minh huy don vua dat nhe", "check_order", "vi"],
	["Where is my order #4521?", "check_order", "en"],
	["Can you give me the tracking number for my package?", "check_order", "en"],
	["What is my order status?", "check_order", "en"],
	// product_info
	["Áo này còn hàng size M không ạ?", "product_info", "vi"],
	["ao nay con hang size M khong a", "product_info", "vi"],
	["Sản phẩm này chất liệu gì vậy shop?", "product_info", "vi"],
	["Có bảo hành không shop?", "product_info", "vi"],
	["Is this jacket in stock in black?", "product_info", "en"],
	["What material is it made of?", "product_info", "en"],
	["I want to buy the blue one, how do I order?", "product_info", "en"],
	// pricing
	["Giá bao nhiêu vậy shop?", "pricing", "vi"],
	["gia bao nhieu vay shop", "pricing", "vi"],
	["Shop có mã giảm giá không?", "pricing", "vi"],
	["Đang có khuyến mãi gì không ạ", "pricing", "vi"],
	["How much is this bag?", "pricing", "en"],
	["Do you have any discount codes?", "pricing", "en"],
	// shipping
	["Phí ship về Hà Nội bao nhiêu?", "shipping", "vi"],
	["phi ship ve ha noi bao nhieu", "shipping", "vi"],
	["Giao hàng mất mấy ngày vậy shop?", "shipping", "vi"],
	["Shop có ship COD không?", "shipping", "vi"],
	["Do you ship to Singapore?", "shipping", "en"],
	["How long does delivery take?", "shipping", "en"],
	// complaint
	["Hàng giao tới bị hỏng rồi, tôi muốn khiếu nại", "complaint", "vi"],
	["hang giao toi bi hong roi, toi muon khieu nai", "complaint", "vi"],
	["Shop giao sai hàng cho tôi", "complaint", "vi"],
	["Thất vọng quá, chất lượng tệ quá", "complaint", "vi"],
	["The item arrived damaged, this is unacceptable", "complaint", "en"],
	["I want a refund, the product is defective", "complaint", "en"],
	// human_request
	["Cho tôi gặp nhân viên tư vấn", "human_request", "vi"],
	["cho toi noi chuyen voi nhan vien", "human_request", "vi"],
	["Tôi muốn nói chuyện với người thật", "human_request", "vi"],
	["Can I talk to a real person please?", "human_request", "en"],
	["I need to speak to customer service", "human_request", "en"],
	// opt_out
	["STOP", "opt_out", "en"],
	["Hủy", "opt_out", "vi"],
	["Đừng nhắn tin cho tôi nữa", "opt_out", "vi"],
	["dung gui tin nhan quang cao nua", "opt_out", "vi"],
	["Please unsubscribe me", "opt_out", "en"],
	["Stop messaging me", "opt_out", "en"],
	// other
	["ok", "other", "vi"],
	["Shop mở cửa đến mấy giờ?", "other", "vi"],
	["What's the weather like?", "other", "en"],
];

describe("built-in classifier", () => {
	test("the table has at least 40 messages in both languages, every intent", () => {
		expect(TABLE.length).toBeGreaterThanOrEqual(40);
		expect(new Set(TABLE.map(r => r[1])).size).toBe(9);
		expect(TABLE.filter(r => r[2] === "vi").length).toBeGreaterThanOrEqual(20);
		expect(TABLE.filter(r => r[2] === "en").length).toBeGreaterThanOrEqual(15);
	});

	test.each(TABLE)("%j is %s", (message, intent) => {
		expect(classify(message).intent).toBe(intent);
	});

	test.each(TABLE.map(([message, , language]) => [message, language]))("%j is written in %s", (message, language) => {
		expect(detectLanguage(message)).toBe(language);
	});

	test("a message with and without diacritics gets the same intent and confidence", () => {
		const pairs = [
			["Tôi muốn kiểm tra đơn hàng của tôi", "toi muon kiem tra don hang cua toi"],
			["Phí ship về Hà Nội bao nhiêu?", "PHI SHIP VE HA NOI BAO NHIEU"],
			["Cho tôi gặp nhân viên tư vấn", "cho toi gap nhan vien tu van"],
		];
		for (const [accented, plain] of pairs) {
			const a = classify(accented);
			const b = classify(plain);
			expect([b.intent, b.confidence]).toEqual([a.intent, a.confidence]);
		}
	});

	test("a message with a clear phrase is confident; no match is 'other' with a confidence below the default threshold", () => {
		expect(classify("Tôi muốn kiểm tra đơn hàng của tôi").confidence).toBeGreaterThanOrEqual(0.9);
		const unknown = classify("Shop mở cửa đến mấy giờ?");
		expect(unknown.intent).toBe("other");
		expect(unknown.confidence).toBeLessThan(0.6);
	});

	test("a hint alone is not enough to be sure", () => {
		const hint = classify("ship?");
		expect(hint.intent).toBe("shipping");
		expect(hint.confidence).toBeLessThan(0.6);
	});

	test("a message about two subjects is less certain than one about either", () => {
		const both = classify("Giá bao nhiêu và giao hàng mất mấy ngày?");
		expect(both.confidence).toBeLessThan(classify("Giá bao nhiêu vậy shop?").confidence);
		expect(both.confidence).toBeLessThan(classify("Giao hàng mất mấy ngày vậy shop?").confidence);
	});

	test("a complaint about an order is a complaint, and asking for a person wins over the topic", () => {
		expect(classify("Đơn hàng của tôi bị hỏng").intent).toBe("complaint");
		expect(classify("Tôi muốn gặp nhân viên để hỏi về đơn hàng").intent).toBe("human_request");
	});

	test("'hủy' cancels an order when it says so, and opts out only as the whole message", () => {
		expect(classify("Hủy đơn hàng giúp mình").intent).toBe("check_order");
		expect(classify("hủy").intent).toBe("opt_out");
	});

	test("words are matched whole: 'giao' does not make 'giaothong' a delivery question", () => {
		expect(classify("giaothong").intent).toBe("other");
	});
});
