// Error messages in the caller's language. The errorCode and details[].field never change with
// language; only `error` does. Vietnamese is the default, as in the contract.

export type Locale = "vi" | "en";

const vi: Record<string, string> = {
	BAD_REQUEST: "Request không hợp lệ",
	INVALID_CURSOR: "Con trỏ phân trang không hợp lệ cho danh sách này",
	UNAUTHORIZED: "Token xác thực không hợp lệ hoặc thiếu",
	FORBIDDEN: "Không có quyền truy cập tài nguyên",
	NOT_FOUND: "Không tìm thấy tài nguyên",
	CONFLICT: "Xung đột với trạng thái hiện tại",
	PAYLOAD_TOO_LARGE: "Nội dung request vượt quá 1 MB",
	UNSUPPORTED_MEDIA_TYPE: "Định dạng nội dung không được hỗ trợ",
	VALIDATION_ERROR: "Dữ liệu không hợp lệ",
	RATE_LIMITED: "Vượt quá giới hạn tần suất, vui lòng thử lại sau",
	INTERNAL_ERROR: "Lỗi server",
	SERVICE_UNAVAILABLE: "Dịch vụ tạm thời không khả dụng, vui lòng thử lại",
	UPSTREAM_UNAVAILABLE: "Dịch vụ bên ngoài tạm thời không khả dụng",
	INVALID_OAUTH_CREDENTIALS: "OAuth credentials không hợp lệ",
	ACCOUNT_ALREADY_CONNECTED: "Tài khoản đã được kết nối",
	MESSAGE_TOO_LONG: "Nội dung tin nhắn vượt quá giới hạn Twitter (10,000 ký tự)",
	INVALID_SIGNATURE: "Chữ ký webhook không hợp lệ",
	CONVERSATION_CLOSED: "Hội thoại đã đóng",
	IDEMPOTENCY_IN_PROGRESS: "Một request với Idempotency-Key này đang được xử lý",
	IDEMPOTENCY_KEY_REUSED: "Idempotency-Key này đã được dùng cho một request khác",
	OUTCOME_UNKNOWN: "Không xác định được kết quả: thay đổi có thể đã hoặc chưa được thực hiện",
	ACCOUNT_INACTIVE: "Tài khoản chưa được kết nối hoặc đã ngắt kết nối",
	X_REJECTED: "Twitter từ chối tin nhắn",
	X_DELIVERY_UNKNOWN: "Twitter không xác nhận tin nhắn đã được gửi",
	X_NOT_CONFIGURED: "Chưa cấu hình kết nối Twitter (X_CONSUMER_KEY, X_CONSUMER_SECRET)",
	TEMPLATE_IN_USE: "Template đang được sử dụng bởi chiến dịch hoặc flow đang hoạt động",
	SEGMENT_IN_USE: "Segment đang được sử dụng bởi chiến dịch đang hoạt động",
	INVALID_CAMPAIGN_STATUS: "Thao tác không hợp lệ với trạng thái hiện tại của chiến dịch",
	FLOW_ACTIVE: "Flow đang hoạt động, hãy hủy kích hoạt trước khi sửa hoặc xóa",
	SUBSCRIPTION_LIMIT: "Mỗi merchant có tối đa 10 webhook subscription",
	SUBSCRIPTION_DISABLED: "Webhook subscription đang bị tắt, hãy bật lại trước",
};

const en: Record<string, string> = {
	BAD_REQUEST: "Bad request",
	INVALID_CURSOR: "The cursor is not valid for this list",
	UNAUTHORIZED: "Missing or invalid authentication token",
	FORBIDDEN: "You do not have access to this resource",
	NOT_FOUND: "Resource not found",
	CONFLICT: "Conflicts with the current state",
	PAYLOAD_TOO_LARGE: "Request body is larger than 1 MB",
	UNSUPPORTED_MEDIA_TYPE: "Unsupported body encoding",
	VALIDATION_ERROR: "Validation failed",
	RATE_LIMITED: "Rate limit exceeded, try again later",
	INTERNAL_ERROR: "Internal server error",
	SERVICE_UNAVAILABLE: "Service temporarily unavailable, try again",
	UPSTREAM_UNAVAILABLE: "An upstream service is temporarily unavailable",
	INVALID_OAUTH_CREDENTIALS: "Invalid OAuth credentials",
	ACCOUNT_ALREADY_CONNECTED: "This X account is already connected",
	MESSAGE_TOO_LONG: "Message content exceeds X's limit (10,000 characters)",
	INVALID_SIGNATURE: "Invalid webhook signature",
	CONVERSATION_CLOSED: "The conversation is closed",
	IDEMPOTENCY_IN_PROGRESS: "A request with this Idempotency-Key is still in progress",
	IDEMPOTENCY_KEY_REUSED: "This Idempotency-Key was used for a different request",
	OUTCOME_UNKNOWN: "The outcome is unknown: the change may or may not have been made",
	ACCOUNT_INACTIVE: "The account is not connected",
	X_REJECTED: "X refused the message",
	X_DELIVERY_UNKNOWN: "X did not confirm the message was sent",
	X_NOT_CONFIGURED: "X is not configured (X_CONSUMER_KEY, X_CONSUMER_SECRET)",
	TEMPLATE_IN_USE: "The template is used by an active campaign or flow",
	SEGMENT_IN_USE: "The segment is used by an active campaign",
	INVALID_CAMPAIGN_STATUS: "The campaign's current status does not allow this",
	FLOW_ACTIVE: "The flow is active; deactivate it before editing or deleting it",
	SUBSCRIPTION_LIMIT: "A merchant has at most 10 webhook subscriptions",
	SUBSCRIPTION_DISABLED: "The webhook subscription is disabled; enable it first",
};

export const catalogs: Record<Locale, Record<string, string>> = { vi, en };

/** The first supported language of an Accept-Language header; Vietnamese when none fits. */
export function localeOf(acceptLanguage: string | undefined): Locale {
	if (!acceptLanguage) return "vi";
	const ranked = acceptLanguage
		.split(",")
		.map(part => {
			const [tag, ...params] = part.trim().split(";");
			const q = params.map(p => p.trim()).find(p => p.startsWith("q="));
			return { lang: tag.toLowerCase().split("-")[0], q: q ? Number(q.slice(2)) || 0 : 1 };
		})
		.filter(x => x.q > 0)
		.sort((a, b) => b.q - a.q);
	for (const { lang } of ranked) if (lang === "vi" || lang === "en") return lang;
	return "vi";
}

/**
 * The message for an errorCode. In English the service's own, more specific message is kept
 * when there is one; in Vietnamese the catalogue's message for the code.
 */
export function localize(errorCode: string, locale: Locale, specific?: string): string {
	// Which fields and rules failed is in the details: Moleculer's generic wording gives way to
	// the catalogue's (a service's own, more specific English message is kept like any other).
	if (errorCode === "VALIDATION_ERROR" && (!specific || specific === "Parameters validation error!"))
		return catalogs[locale].VALIDATION_ERROR;
	if (locale === "en") return specific || en[errorCode] || errorCode;
	return vi[errorCode] || specific || errorCode;
}
