import type { Intent, Language } from "./intents.ts";

// The built-in replies: short, one per intent and language, promising nothing the shop has not
// said (no prices, stock or delivery times). They ask for what an agent would need next.

const REPLIES: Record<Language, Record<Intent, string>> = {
	vi: {
		greeting: "Dạ, xin chào anh/chị! Shop có thể giúp gì cho anh/chị ạ?",
		check_order: "Dạ, tôi có thể giúp bạn kiểm tra đơn hàng. Vui lòng cho tôi biết mã đơn hàng của bạn.",
		product_info:
			"Dạ, anh/chị đang quan tâm sản phẩm nào ạ? Anh/chị gửi giúp shop tên hoặc hình sản phẩm, shop sẽ gửi thông tin chi tiết ạ.",
		pricing: "Dạ, anh/chị cho shop biết sản phẩm mình quan tâm, shop sẽ báo giá và ưu đãi hiện có ạ.",
		shipping: "Dạ, anh/chị cho shop biết địa chỉ nhận hàng để shop báo thời gian và phí giao hàng ạ.",
		complaint: "Dạ, shop rất xin lỗi vì trải nghiệm chưa tốt của anh/chị. Nhân viên chăm sóc khách hàng sẽ liên hệ với anh/chị ngay ạ.",
		human_request: "Dạ, shop đã chuyển cuộc trò chuyện cho nhân viên hỗ trợ. Anh/chị vui lòng chờ trong giây lát ạ.",
		opt_out: "Dạ, shop đã ghi nhận. Anh/chị sẽ không nhận tin nhắn tự động từ shop nữa ạ.",
		other: "Dạ, shop đã nhận được tin nhắn. Nhân viên sẽ phản hồi anh/chị sớm nhất ạ.",
	},
	en: {
		greeting: "Hi there! How can we help you today?",
		check_order: "I can help you check your order. Please send me your order number.",
		product_info: "Which product are you interested in? Send us its name or a picture and we will share the details.",
		pricing: "Tell us which product you are interested in and we will send you its price and current offers.",
		shipping: "Please send us your delivery address and we will tell you the delivery time and fee.",
		complaint: "We are very sorry about your experience. A member of our customer care team will contact you shortly.",
		human_request: "We have passed this conversation to a member of our team. They will be with you shortly.",
		opt_out: "Done: you will not receive automated messages from us any more.",
		other: "Thanks for your message. A member of our team will get back to you as soon as possible.",
	},
};

/** The reply to a message of this intent, in the customer's language. */
export function replyTemplate(intent: Intent, language: Language): string {
	return REPLIES[language][intent];
}

/** What the bot says when it is not sure enough to answer and hands the conversation over. */
export function handoffReply(language: Language): string {
	return REPLIES[language].other;
}
