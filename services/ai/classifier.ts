import { foldText, isOptOutMessage } from "../contacts/opt-out.ts";
import type { Intent, Language } from "./intents.ts";

// The built-in classifier: the chatbot without an API key, and its fallback when Claude fails.
// Keyword and phrase rules for Vietnamese and English. Text and phrases are folded the same way
// (lower case, no accents, đ → d, punctuation as spaces: services/contacts/opt-out.ts), so
// "đơn hàng", "Don hang" and "DON HANG!" are one phrase; phrases match whole words only.
//
// Each intent's score is the sum of the weights of its phrases found in the message: 3 for a
// phrase that settles it ("khiếu nại", "my order"), 2 for a telling word ("giá", "shipping"),
// 1 for a hint ("ship", "bao nhiêu"); a phrase inside a longer one found ("đơn hàng" in "đơn
// hàng của tôi") counts once, as the longer one. The highest score wins; a tie goes to the intent earlier
// in PRIORITY (a complaint about an order is a complaint). Confidence follows the winning score,
// lowered when another intent came close (a message about two things), and is low for a hint
// alone or for no match ("other"), which the escalation threshold then hands to a person.

type Rule = readonly [phrase: string, weight: number];

const RULES: Record<Exclude<Intent, "other">, readonly Rule[]> = {
	opt_out: [
		["hủy đăng ký", 3],
		["hủy nhận tin", 3],
		["đừng gửi", 3],
		["đừng nhắn", 3],
		["dừng gửi", 3],
		["dừng nhắn", 3],
		["ngừng gửi", 3],
		["ngừng nhắn", 3],
		["không muốn nhận tin", 3],
		["không nhận tin nữa", 3],
		["bỏ đăng ký", 3],
		["đừng spam", 3],
		["đừng liên lạc", 3],
		["unsubscribe", 3],
		["opt out", 3],
		["stop messaging", 3],
		["stop sending", 3],
		["stop texting", 3],
		["stop contacting", 3],
		["don't message", 3],
		["dont message", 3],
		["do not message", 3],
		["no more messages", 3],
		["remove me from", 3],
	],
	human_request: [
		["gặp nhân viên", 3],
		["nói chuyện với nhân viên", 3],
		["kết nối nhân viên", 3],
		["nhân viên tư vấn", 3],
		["nhân viên hỗ trợ", 3],
		["người thật", 3],
		["gặp người", 3],
		["nói chuyện với người", 3],
		["tư vấn viên", 3],
		["chăm sóc khách hàng", 3],
		["cskh", 3],
		["gặp quản lý", 3],
		["gặp admin", 3],
		["gọi lại cho", 3],
		["gọi cho tôi", 3],
		["gọi cho mình", 3],
		["nhân viên", 1],
		["quản lý", 1],
		["real person", 3],
		["human", 3],
		["live agent", 3],
		["representative", 3],
		["talk to someone", 3],
		["speak to someone", 3],
		["talk to a person", 3],
		["speak to a person", 3],
		["customer service", 3],
		["customer support", 3],
		["call me", 3],
		["speak to", 2],
		["talk to", 2],
		["agent", 2],
		["operator", 2],
		["manager", 2],
	],
	complaint: [
		["khiếu nại", 3],
		["phàn nàn", 3],
		["thất vọng", 3],
		["tệ quá", 3],
		["quá tệ", 3],
		["tồi tệ", 3],
		["bị hỏng", 3],
		["hỏng rồi", 3],
		["bị lỗi", 3],
		["hàng lỗi", 3],
		["sản phẩm lỗi", 3],
		["sai hàng", 3],
		["giao sai", 3],
		["giao nhầm", 3],
		["thiếu hàng", 3],
		["không giống hình", 3],
		["lừa đảo", 3],
		["không hài lòng", 3],
		["kém chất lượng", 3],
		["bực mình", 3],
		["chậm quá", 2],
		["quá chậm", 2],
		["hoàn tiền", 2],
		["trả hàng", 2],
		["đổi trả", 1],
		["complaint", 3],
		["complain", 3],
		["terrible", 3],
		["awful", 3],
		["worst", 3],
		["broken", 3],
		["damaged", 3],
		["defective", 3],
		["wrong item", 3],
		["disappointed", 3],
		["scam", 3],
		["not happy", 3],
		["unacceptable", 3],
		["poor quality", 3],
		["angry", 3],
		["want a refund", 3],
		["get a refund", 3],
		["my money back", 3],
		["wrong size", 2],
		["refund", 1],
	],
	check_order: [
		["kiểm tra đơn", 3],
		["tình trạng đơn", 3],
		["mã đơn", 3],
		["đơn của tôi", 3],
		["đơn của mình", 3],
		["đơn hàng của tôi", 3],
		["đơn hàng của mình", 3],
		["theo dõi đơn", 3],
		["hủy đơn", 3],
		["mã vận đơn", 3],
		["vận đơn", 2],
		["đơn hàng", 2],
		["đơn", 1],
		["đã đặt", 2],
		["chưa nhận được", 2],
		["chưa thấy hàng", 3],
		["hàng của tôi", 2],
		["my order", 3],
		["order status", 3],
		["order number", 3],
		["tracking", 3],
		["where is my", 3],
		["my package", 3],
		["cancel my order", 3],
		["haven't received", 2],
		["havent received", 2],
		["not received", 2],
		["still waiting", 2],
		["track", 2],
		["order", 1],
	],
	shipping: [
		["phí ship", 3],
		["phí vận chuyển", 3],
		["phí giao hàng", 3],
		["bao nhiêu ngày", 3],
		["khi nào giao", 3],
		["ship cod", 3],
		["freeship", 3],
		["miễn phí vận chuyển", 3],
		["nhân viên giao hàng", 3],
		["shipper", 3],
		["giao hàng", 2],
		["vận chuyển", 2],
		["giao tới", 2],
		["giao đến", 2],
		["giao về", 2],
		["bao lâu", 2],
		["mấy ngày", 2],
		["giao nhanh", 2],
		["ngoại thành", 2],
		["nội thành", 2],
		["cod", 2],
		["ship", 1],
		["giao", 1],
		["shipping", 3],
		["delivery", 3],
		["ship to", 3],
		["courier", 3],
		["shipping fee", 3],
		["free shipping", 3],
		["deliver", 2],
		["how long", 2],
		["arrive", 2],
		["express", 2],
	],
	pricing: [
		["giá bao nhiêu", 3],
		["bao nhiêu tiền", 3],
		["bảng giá", 3],
		["giảm giá", 3],
		["khuyến mãi", 3],
		["mã giảm", 3],
		["bao tiền", 3],
		["trả góp", 3],
		["voucher", 3],
		["giá", 2],
		["ưu đãi", 2],
		["sale", 2],
		["đắt quá", 2],
		["mắc quá", 2],
		["nhiêu tiền", 2],
		["bao nhiêu", 1],
		["tiền", 1],
		["price", 3],
		["prices", 3],
		["pricing", 3],
		["how much", 3],
		["discount", 3],
		["promo", 3],
		["promotion", 3],
		["coupon", 3],
		["cost", 2],
		["costs", 2],
		["cheap", 2],
		["expensive", 2],
		["deal", 1],
	],
	product_info: [
		["còn hàng", 3],
		["hết hàng", 3],
		["chất liệu", 3],
		["kích thước", 3],
		["kích cỡ", 3],
		["bảo hành", 3],
		["thông số", 3],
		["xuất xứ", 3],
		["chính hãng", 3],
		["hàng giả", 3],
		["màu sắc", 3],
		["cách dùng", 3],
		["cách sử dụng", 3],
		["muốn mua", 3],
		["đặt mua", 3],
		["muốn đặt hàng", 3],
		["sản phẩm", 2],
		["có sẵn", 2],
		["size", 2],
		["mẫu", 1],
		["màu", 1],
		["thông tin", 1],
		["tư vấn", 1],
		["in stock", 3],
		["out of stock", 3],
		["availability", 3],
		["material", 3],
		["warranty", 3],
		["specs", 3],
		["made of", 3],
		["dimensions", 3],
		["want to buy", 3],
		["place an order", 3],
		["want to order", 3],
		["how do i order", 3],
		["return policy", 3],
		["refund policy", 3],
		["authentic", 3],
		["genuine", 3],
		["product", 2],
		["available", 2],
		["sizes", 2],
		["color", 2],
		["colour", 2],
		["colors", 2],
	],
	greeting: [
		["xin chào", 3],
		["chào shop", 3],
		["cảm ơn", 3],
		["chào", 2],
		["alo", 2],
		["shop ơi", 2],
		["ad ơi", 2],
		["good morning", 3],
		["good afternoon", 3],
		["good evening", 3],
		["thank you", 3],
		["thanks", 3],
		["hello", 2],
		["hi", 2],
		["hey", 2],
	],
};

/** Ties go to the earlier intent. */
const PRIORITY: readonly Exclude<Intent, "other">[] = [
	"opt_out",
	"human_request",
	"complaint",
	"check_order",
	"shipping",
	"pricing",
	"product_info",
	"greeting",
];

const FOLDED: Record<string, readonly Rule[]> = Object.fromEntries(
	Object.entries(RULES).map(([intent, rules]) => [intent, rules.map(([phrase, weight]) => [foldText(phrase), weight] as const)])
);

// Letters English never uses: one of them settles the language.
const VIETNAMESE_LETTERS = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;
// Common words of each language once folded; words both could be ("do", "can", "me", "the") are left out.
const VIETNAMESE_WORDS = new Set(
	"toi minh ban em anh chi khong ko duoc dc cua hang don gia bao nhieu giao nhe oi vay sao nao muon hoi xin chao cam roi chua lam gi voi nguoi nhan vien tien san pham mua dat khi ngay thi la co di den kiem tra huy dung lau shop ad phi".split(
		" "
	)
);
const ENGLISH_WORDS = new Set(
	"i my you your is are was what where when how much order price please hi hello hey thanks thank want of for and it this with delivery shipping not stop need talk help human agent person any have has get buy does will would could there".split(
		" "
	)
);

/** The customer's language: Vietnamese letters, or else which language's common words are more numerous (Vietnamese on a tie). */
export function detectLanguage(text: string): Language {
	if (VIETNAMESE_LETTERS.test(text)) return "vi";
	let vi = 0;
	let en = 0;
	for (const word of foldText(text).split(" ")) {
		if (VIETNAMESE_WORDS.has(word)) vi++;
		if (ENGLISH_WORDS.has(word)) en++;
	}
	return en > vi ? "en" : "vi";
}

export interface Classification {
	intent: Intent;
	confidence: number;
	language: Language;
	scores: Partial<Record<Intent, number>>;
}

function confidenceOf(score: number, contested: boolean): number {
	const base = score >= 5 ? 0.95 : score >= 4 ? 0.9 : score >= 3 ? 0.85 : score >= 2 ? 0.75 : 0.5;
	return contested ? base - 0.15 : base;
}

export function classify(text: string, optOutKeywords?: readonly string[]): Classification {
	const language = detectLanguage(text);
	const padded = ` ${foldText(text)} `;
	const scores: Partial<Record<Intent, number>> = {};
	for (const intent of PRIORITY) {
		const found = FOLDED[intent].filter(([phrase]) => phrase && padded.includes(` ${phrase} `));
		// A phrase inside a longer one found ("đơn hàng" in "đơn hàng của tôi") is the same evidence, counted once.
		const score = found
			.filter(([phrase]) => !found.some(([other]) => other !== phrase && ` ${other} `.includes(` ${phrase} `)))
			.reduce((sum, [, weight]) => sum + weight, 0);
		if (score > 0) scores[intent] = score;
	}
	// The whole message is an opt-out keyword ("STOP", "Hủy"): the same rule the inbox applies.
	if (isOptOutMessage(text, optOutKeywords)) scores.opt_out = (scores.opt_out ?? 0) + 5;

	const ranked = PRIORITY.filter(i => scores[i]).sort((a, b) => scores[b]! - scores[a]! || PRIORITY.indexOf(a) - PRIORITY.indexOf(b));
	if (!ranked.length) return { intent: "other", confidence: 0.3, language, scores };
	const [top, ...rest] = ranked;
	const topScore = scores[top]!;
	// Another subject nearly as strong: the message is about two things (a greeting does not count).
	const contested = rest.some(i => i !== "greeting" && scores[i]! >= 2 && scores[i]! >= topScore - 1);
	return { intent: top, confidence: confidenceOf(topScore, contested), language, scores };
}
