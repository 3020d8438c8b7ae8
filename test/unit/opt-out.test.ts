import { foldText, isOptOutMessage } from "../../services/contacts/opt-out.ts";
import { DEFAULT_OPT_OUT_KEYWORDS, loadConfig } from "../../lib/config.ts";

describe("opt-out keywords", () => {
	test.each([
		"STOP",
		"stop",
		" Stop! ",
		"UNSUBSCRIBE",
		"unsubscribe.",
		"hủy",
		"HỦY",
		"huy",
		"Hủy!!",
		"dừng",
		"DỪNG",
		"dung",
		"hủy đăng ký",
		"Huy dang ky",
		"dừng lại",
	])("%j opts out (case, accents and punctuation ignored)", text => {
		expect(isOptOutMessage(text)).toBe(true);
	});

	test.each(["please don't stop the offers", "stop by the shop tomorrow", "cảm ơn", "", "   ", "stopp", "unsubscribed yesterday"])(
		"%j does not opt out: the whole message must be a keyword",
		text => {
			expect(isOptOutMessage(text)).toBe(false);
		}
	);

	test("null and undefined are not opt-outs", () => {
		expect(isOptOutMessage(null)).toBe(false);
		expect(isOptOutMessage(undefined)).toBe(false);
	});

	test("a configured list replaces the default one, and its keywords are folded too", () => {
		expect(isOptOutMessage("NGỪNG", ["ngừng"])).toBe(true);
		expect(isOptOutMessage("ngung", ["Ngừng"])).toBe(true);
		expect(isOptOutMessage("stop", ["ngừng"])).toBe(false);
	});

	test("folding removes case, Vietnamese accents (đ included) and punctuation", () => {
		expect(foldText("  Đừng GỬI nữa!!! ")).toBe("dung gui nua");
	});

	test("OPT_OUT_KEYWORDS configures the list; unset means the default", () => {
		expect(loadConfig({ NODE_ENV: "test" }).optOutKeywords).toEqual(DEFAULT_OPT_OUT_KEYWORDS);
		expect(loadConfig({ NODE_ENV: "test", OPT_OUT_KEYWORDS: "ngừng, thôi ,stop" }).optOutKeywords).toEqual(["ngừng", "thôi", "stop"]);
	});
});
