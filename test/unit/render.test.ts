import { placeholdersOf, renderTemplate } from "../../services/templates/render.ts";
import { templateProblems, variablesOf } from "../../services/templates/validate.ts";

const welcome = {
	type: "text",
	content: "Chào {{name}}, chào mừng đến {{shop_name}}! Sử dụng mã {{discount_code}} để được giảm giá 10% cho đơn hàng đầu tiên.",
};

describe("renderTemplate", () => {
	test("the contract's preview example renders exactly", () => {
		const r = renderTemplate(welcome, { variables: { name: "John", shop_name: "GoodGo Shop", discount_code: "WELCOME10" } });
		expect(r).toEqual({
			text: "Chào John, chào mừng đến GoodGo Shop! Sử dụng mã WELCOME10 để được giảm giá 10% cho đơn hàng đầu tiên.",
			mediaUrl: null,
			missing: [],
		});
	});

	test("built-ins fill from the contact: name is the display name, or the username without one", () => {
		const t = { type: "text", content: "{{name}}|{{username}}|{{display_name}}|{{attributes.tier}}|{{ attributes.points }}" };
		expect(renderTemplate(t, { contact: { username: "jo", displayName: "Jo Doe", attributes: { tier: "gold", points: 12 } } }).text).toBe(
			"Jo Doe|jo|Jo Doe|gold|12"
		);
		const r = renderTemplate(t, { contact: { username: "jo", displayName: "", attributes: {} } });
		expect(r.text.startsWith("jo|jo|")).toBe(true);
		expect(r.missing).toEqual(["display_name", "attributes.tier", "attributes.points"]);
	});

	test("the contact's value wins over a variable; a variable is the fallback when the contact has none", () => {
		const t = { type: "text", content: "{{name}} {{attributes.tier}}" };
		const r = renderTemplate(t, {
			contact: { username: "jo", attributes: {} },
			variables: { name: "Someone", "attributes.tier": "member" },
		});
		expect(r.text).toBe("jo member");
	});

	test("missing variables are reported (each once) and left as written", () => {
		const r = renderTemplate({ type: "text", content: "{{a}} {{b}} {{a}}" }, { variables: { b: 0 } });
		expect(r.missing).toEqual(["a"]);
		expect(r.text).toBe("{{a}} 0 {{a}}");
	});

	test("a variable's text is inserted literally, never read as another placeholder or pattern", () => {
		const r = renderTemplate({ type: "text", content: "{{a}} {{b}}" }, { variables: { a: "{{b}} $& $1", b: "x" } });
		expect(r.text).toBe("{{b}} $& $1 x");
	});

	test("quick_reply renders its question and numbered options with descriptions", () => {
		const t = {
			type: "quick_reply",
			content: "Bạn cần gì, {{name}}?",
			options: [{ label: "Đơn hàng", description: "Kiểm tra đơn {{order_id}}" }, { label: "Tư vấn" }, { label: "Khác", description: null }],
		};
		expect(renderTemplate(t, { variables: { name: "An", order_id: "#42" } }).text).toBe(
			"Bạn cần gì, An?\n\n1. Đơn hàng - Kiểm tra đơn #42\n2. Tư vấn\n3. Khác"
		);
	});

	test("a card becomes title, text and one 'label: url' line per button; the image is the media", () => {
		const t = {
			type: "card",
			content: "",
			card: {
				title: "Sale {{pct}}%",
				text: "Chỉ hôm nay, {{name}}",
				imageUrl: "https://cdn.example.com/{{img}}.png",
				buttons: [
					{ label: "Mua ngay", url: "https://shop.example.com/p?code={{code}}" },
					{ label: "Xem thêm", url: "{{link}}" },
				],
			},
		};
		const r = renderTemplate(t, {
			variables: { pct: 50, name: "An", img: "sale banner", code: "A&B C", link: "https://x.example.com/a?b=1" },
		});
		expect(r.text).toBe(
			"Sale 50%\n\nChỉ hôm nay, An\n\nMua ngay: https://shop.example.com/p?code=A%26B%20C\nXem thêm: https://x.example.com/a?b=1"
		);
		expect(r.mediaUrl).toBe("https://cdn.example.com/sale%20banner.png");
		expect(r.missing).toEqual([]);
	});

	test("placeholders of the whole template are collected in order, once", () => {
		expect(placeholdersOf({ type: "quick_reply", content: "{{a}} {{b}}", options: [{ label: "{{c}}", description: "{{a}}" }] })).toEqual([
			"a",
			"b",
			"c",
		]);
		// options of a text template are not part of it
		expect(placeholdersOf({ type: "text", content: "{{a}}", options: [{ label: "{{c}}" }] })).toEqual(["a"]);
	});
});

describe("template validation", () => {
	test("the contract's create example is valid (name is a built-in, declared anyway)", () => {
		expect(templateProblems({ name: "Tin Nhắn Chào Mừng", ...welcome, variables: ["name", "shop_name", "discount_code"] })).toEqual([]);
	});

	test("built-ins need not be declared", () => {
		expect(templateProblems({ name: "t", ...welcome, variables: ["shop_name", "discount_code"] })).toEqual([]);
	});

	test("declared variables must match the placeholders: the difference is named both ways", () => {
		expect(templateProblems({ name: "t", ...welcome, variables: ["name", "shop_name", "coupon"] })).toEqual([
			{
				field: "variables",
				message: "used in the template but not declared: discount_code; declared but not used in the template: coupon",
			},
		]);
	});

	test("without variables the list is read from the text", () => {
		expect(variablesOf({ name: "t", ...welcome })).toEqual(["name", "shop_name", "discount_code"]);
	});

	test("an invalid placeholder name is refused where it is", () => {
		expect(templateProblems({ name: "t", type: "text", content: "Hi {{first name}} {{a.b}}" })).toEqual([
			{ field: "content", message: expect.stringContaining("{{first name}}") },
			{ field: "content", message: expect.stringContaining("{{a.b}}") },
		]);
	});

	test("each type requires its parts", () => {
		expect(templateProblems({ name: "t", type: "text", content: "  " })).toEqual([{ field: "content", message: "is required" }]);
		expect(templateProblems({ name: "t", type: "quick_reply", content: "Q?" })).toEqual([
			{ field: "options", message: expect.any(String) },
		]);
		expect(templateProblems({ name: "t", type: "card" })).toEqual([{ field: "card", message: expect.any(String) }]);
	});

	test("card URLs must be http(s), placeholders allowed inside", () => {
		const card = (url: string) => ({ name: "t", type: "card", card: { title: "T", buttons: [{ label: "Go", url }] } });
		expect(templateProblems(card("https://shop.example.com/{{code}}"))).toEqual([]);
		expect(templateProblems(card("{{link}}"))).toEqual([]);
		expect(templateProblems(card("javascript:alert(1)"))).toEqual([{ field: "card.buttons[0].url", message: "must be an http(s) URL" }]);
		expect(templateProblems(card("not a url"))).toEqual([{ field: "card.buttons[0].url", message: "must be an http(s) URL" }]);
	});
});
