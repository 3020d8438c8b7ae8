// The English summary of each operation (the reference page's line), with a Vietnamese title
// for the operations the contract does not describe (added by the issues after it). The
// contract's own Vietnamese title, sentence and examples are added by lib/openapi.ts.

export const SUMMARIES: Record<string, [en: string, vi: string]> = {
	"outbound-webhooks.create": ["Register an outbound webhook (its signing secret is shown once)", "Đăng ký webhook gửi đi"],
	"outbound-webhooks.list": ["List outbound webhook subscriptions", "Danh sách webhook gửi đi"],
	"outbound-webhooks.get": ["Get an outbound webhook subscription", "Lấy chi tiết webhook gửi đi"],
	"outbound-webhooks.update": ["Edit an outbound webhook subscription (URL, events, enabled)", "Cập nhật webhook gửi đi"],
	"outbound-webhooks.remove": ["Delete an outbound webhook subscription", "Xóa webhook gửi đi"],
	"outbound-webhooks.rotateSecret": ["Rotate the signing secret (the old one signs too during a grace period)", "Đổi khóa ký webhook"],
	"outbound-webhooks.deliveries": ["List a subscription's deliveries (status, attempts, last response)", "Lịch sử gửi webhook"],
	"outbound-webhooks.redeliver": ["Send a delivery again", "Gửi lại webhook"],
	"outbound-webhooks.test": ["Send a ping to the subscription's URL", "Gửi thử webhook"],
	"accounts.list": ["List connected X accounts", "Danh sách tài khoản đã kết nối"],
	"accounts.get": ["Get a connected X account", "Lấy chi tiết tài khoản"],
	"accounts.connect": ["Connect an X account (OAuth 1.0a tokens)", "Kết nối tài khoản Twitter"],
	"accounts.disconnect": ["Disconnect an X account", "Ngắt kết nối tài khoản"],
	"accounts.update": ["Update an account's settings", "Cập nhật cài đặt tài khoản"],
	"ai.getConfig": ["Get the AI chatbot settings of an account", "Xem cấu hình AI chatbot"],
	"ai.updateConfig": ["Update the AI chatbot settings of an account", "Cấu hình AI chatbot"],
	"ai.message": ["Ask the AI for an answer to a customer's message", "Gửi tin nhắn AI"],
	"analytics.overview": ["Overview figures of a period", "Tổng quan analytics"],
	"analytics.contacts": ["Contact figures of a period", "Phân tích liên hệ"],
	"analytics.conversations": [
		"Conversation figures of a period: daily opened/closed/escalated and response-time trend, first response, resolution, by assignee",
		"Phân tích hội thoại",
	],
	"analytics.campaigns": ["Campaign figures of a period", "Phân tích chiến dịch"],
	"campaigns.create": ["Create a campaign", "Tạo chiến dịch"],
	"campaigns.list": ["List campaigns", "Danh sách chiến dịch"],
	"campaigns.get": ["Get a campaign with its metrics and progress", "Lấy chi tiết chiến dịch"],
	"campaigns.metrics": ["Get a campaign's metrics and rates", "Lấy số liệu chiến dịch"],
	"campaigns.update": ["Edit a draft or scheduled campaign", "Cập nhật chiến dịch"],
	"campaigns.remove": ["Delete a draft or scheduled campaign", "Xóa chiến dịch"],
	"campaigns.previewLaunch": ["Preview a launch: audience, skips, finish time, samples", "Xem trước khi chạy chiến dịch"],
	"campaigns.start": ["Start a campaign now", "Bắt đầu chiến dịch"],
	"campaigns.pause": ["Pause a running campaign", "Tạm dừng chiến dịch"],
	"campaigns.resume": ["Resume a paused campaign", "Tiếp tục chiến dịch"],
	"campaigns.cancel": ["Cancel a campaign", "Hủy chiến dịch"],
	"campaigns.click": ["Follow a campaign's tracking link (302)", "Theo dõi liên kết của chiến dịch"],
	"contacts.list": ["List contacts (search, tags, pagination)", "Danh sách liên hệ"],
	"contacts.create": ["Create a contact", "Tạo liên hệ"],
	"contacts.export": ["Export contacts as CSV", "Xuất liên hệ ra CSV"],
	"contacts.import": ["Import contacts from CSV", "Nhập liên hệ từ CSV"],
	"contacts.get": ["Get a contact", "Lấy chi tiết liên hệ"],
	"contacts.update": ["Update a contact", "Cập nhật liên hệ"],
	"contacts.setAttributes": ["Set a contact's custom attributes", "Cập nhật thuộc tính liên hệ"],
	"contacts.addTags": ["Add tags to a contact", "Thêm tags vào liên hệ"],
	"contacts.removeTag": ["Remove a tag from a contact", "Xóa tag khỏi liên hệ"],
	"contacts.optOut": ["Opt a contact out of automated messages", "Hủy nhận tin tự động"],
	"contacts.optIn": ["Opt a contact back in", "Đăng ký nhận lại tin"],
	"contacts.remove": ["Delete a contact and everything about it", "Xóa liên hệ"],
	"flows.create": ["Create an automation flow", "Tạo automation flow"],
	"flows.list": ["List automation flows", "Danh sách automation flow"],
	"flows.get": ["Get an automation flow", "Lấy automation flow"],
	"flows.update": ["Edit an inactive flow", "Cập nhật automation flow"],
	"flows.remove": ["Delete an inactive flow", "Xóa automation flow"],
	"flows.activate": ["Activate a flow", "Kích hoạt flow"],
	"flows.deactivate": ["Deactivate a flow", "Hủy kích hoạt flow"],
	"flows.runs": ["List a flow's runs with their logs", "Danh sách lượt chạy của flow"],
	"inbox.list": ["List conversations (the shared inbox)", "Danh sách hội thoại"],
	"inbox.get": ["Get a conversation with its messages", "Lấy hội thoại với tin nhắn"],
	"inbox.close": ["Close a conversation", "Đóng hội thoại"],
	"inbox.assign": ["Assign a conversation to an agent", "Gán hội thoại"],
	"inbox.sendMessage": ["Answer in a conversation (sends a DM on X)", "Gửi tin nhắn"],
	"contacts.conversations": ["List a contact's conversations", "Lấy hội thoại của liên hệ"],
	"segments.create": ["Create a segment", "Tạo segment"],
	"segments.list": ["List segments", "Danh sách segments"],
	"segments.get": ["Get a segment", "Lấy segment"],
	"segments.update": ["Update a segment", "Cập nhật segment"],
	"segments.remove": ["Delete a segment", "Xóa segment"],
	"segments.evaluate": ["Count and sample a segment's contacts", "Đánh giá segment"],
	"segments.preview": ["Count and sample contacts for unsaved conditions", "Đánh giá điều kiện segment"],
	"templates.create": ["Create a message template", "Tạo template"],
	"templates.list": ["List templates", "Danh sách templates"],
	"templates.get": ["Get a template", "Lấy template"],
	"templates.update": ["Update a template", "Cập nhật template"],
	"templates.remove": ["Delete a template", "Xóa template"],
	"templates.preview": ["Render a template with sample data", "Xem trước template"],
	"webhooks.crc": ["X's CRC challenge (webhook registration)", "Xác minh webhook (CRC)"],
	"api.live": ["Liveness", "Kiểm tra tiến trình"],
	"api.ready": ["Readiness: database and broker", "Kiểm tra sẵn sàng"],
	"api.openapi": ["This document", "Tài liệu OpenAPI này"],
	"api.docsPage": ["The reference page", "Trang tài liệu API"],
	"api.docsAsset": ["A file of the reference page", "Tệp của trang tài liệu"],
	"api.events": ["Live events of the merchant (Server-Sent Events)", "Sự kiện trực tiếp (SSE)"],
	"webhooks.receive": ["X's Account Activity events (signed)", "Nhận sự kiện từ Twitter"],
};

/**
 * Response examples of operations whose contract entry shows none ("Response 200 OK" and
 * nothing after it): the document shapes `data` from them as from the contract's, and the
 * "Try it out" test replays every operation against that shape.
 */
export const RESPONSE_EXAMPLES: Record<string, unknown> = {
	"analytics.conversations": {
		success: true,
		data: {
			period: { startDate: "2026-01-17", endDate: "2026-01-18", timezone: "Asia/Ho_Chi_Minh" },
			summary: {
				opened: 3,
				closed: 2,
				escalations: 1,
				averageFirstResponseTime: "3m 15s",
				averageFirstResponseSeconds: 195,
				averageResolutionTime: "12h 0m 0s",
				averageResolutionSeconds: 43200,
				answeredByBot: { conversations: 1, percent: 33.3 },
			},
			daily: [
				{ date: "2026-01-17", opened: 1, closed: 1, escalations: 0 },
				{ date: "2026-01-18", opened: 2, closed: 1, escalations: 1 },
			],
			// Per local day: replies and their mean response time, first responses and theirs; null on a day without any.
			responseTimeTrend: [
				{ date: "2026-01-17", responses: 1, averageResponseSeconds: 225, firstResponses: 1, averageFirstResponseSeconds: 225 },
				{ date: "2026-01-18", responses: 0, averageResponseSeconds: null, firstResponses: 0, averageFirstResponseSeconds: null },
			],
			byAssignee: [
				{
					userId: "agent-1",
					closed: 1,
					averageResolutionTime: "18h 0m 0s",
					averageResolutionSeconds: 64800,
					firstResponses: 1,
					averageFirstResponseTime: "3m 45s",
					averageFirstResponseSeconds: 225,
				},
			],
		},
	},
};

/** JSON Schema of a value, from one example of it: the shape, every field optional and nullable. */
export function schemaOfExample(value: unknown): Record<string, unknown> {
	if (value === null) return {};
	if (Array.isArray(value)) return { type: "array", items: value.length ? schemaOfExample(value[0]) : {} };
	if (typeof value === "object") {
		return { type: "object", properties: Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, schemaOfExample(v)])) };
	}
	const type = typeof value === "number" ? "number" : typeof value === "boolean" ? "boolean" : "string";
	return { type: [type, "null"] };
}
