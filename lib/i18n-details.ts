import type { Locale } from "./i18n.ts";

// The messages of a 422's details in the caller's language. The checks (Ajv's, through
// lib/validator.ts, and the services' own) word their problems in English, as a rule applied to
// a field ("must be at most 100 characters"); in Vietnamese the message names the field and
// the rule, as the contract's example does ("templateId là bắt buộc"). A message nobody
// translated yet keeps its English text after a Vietnamese "không hợp lệ" rather than lose it
// (test/unit/i18n-details.test.ts finds those in the sources).

type Rule = [RegExp, string];

const EXACT: Record<string, string> = {
	"is required": "là bắt buộc",
	"is not allowed": "không được phép",
	"is invalid": "không hợp lệ",
	"is not a valid cursor": "không phải con trỏ phân trang hợp lệ",
	"is not a valid variable name": "không phải tên biến hợp lệ (chữ, số và _)",
	"is not a valid variable name (letters, digits and _)": "không phải tên biến hợp lệ (chữ, số và _)",
	"is already used by another template": "đã được dùng cho template khác",
	"is used by the template and is neither built-in nor given": "được template dùng nhưng không có sẵn và không được truyền vào",
	"is used by the template but neither built-in nor given": "được template dùng nhưng không có sẵn và không được truyền vào",
	"has an invalid format": "sai định dạng",
	"must be 1-64 letters, digits, _ or -": "phải gồm 1-64 chữ, số, _ hoặc -",
	"must be a boolean": "phải là true hoặc false",
	"must be a campaign id": "phải là ID chiến dịch",
	"must be a date as YYYY-MM-DD": "phải là ngày dạng YYYY-MM-DD",
	"must be a finite number": "phải là số hữu hạn",
	"must be a list of at least 1 node": "phải là danh sách có ít nhất 1 node",
	"must be a list of conditions": "phải là danh sách điều kiện",
	"must be a list of nodes": "phải là danh sách node",
	"must be a node object {type, ...}": "phải là một node {type, ...}",
	"must be a number or a string": "phải là số hoặc chuỗi",
	"must be a number": "phải là số",
	"must be a string (at most 1000 characters), number, boolean, or null to remove":
		"phải là chuỗi (tối đa 1000 ký tự), số, boolean, hoặc null để xóa",
	"must be a string": "phải là chuỗi",
	"must be a string, number or boolean": "phải là chuỗi, số hoặc boolean",
	"must be a string, number, boolean or ISO date string": "phải là chuỗi, số, boolean hoặc ngày ISO",
	"must be a tag (1 to 100 characters)": "phải là tag (1 đến 100 ký tự)",
	"must be a tag (a non-empty string)": "phải là tag (chuỗi không rỗng)",
	"must be a user id": "phải là ID người dùng",
	"must be a whole number of seconds": "phải là số giây nguyên",
	"is not a URL": "không phải là URL",
	"must be an https URL": "phải là URL https",
	"must not carry credentials": "không được chứa thông tin đăng nhập",
	"must not have a fragment": "không được có phần #fragment",
	"must be a word or phrase of letters or digits (at most 100 characters)": "phải là từ hoặc cụm từ gồm chữ hoặc số (tối đa 100 ký tự)",
	"must be after schedule.startAt": "phải sau schedule.startAt",
	"must be an array": "phải là danh sách",
	"must be an IANA time zone such as Asia/Ho_Chi_Minh": "phải là múi giờ IANA, ví dụ Asia/Ho_Chi_Minh",
	"must be an IANA timezone such as Asia/Ho_Chi_Minh": "phải là múi giờ IANA, ví dụ Asia/Ho_Chi_Minh",
	"must be an integer": "phải là số nguyên",
	"must be an ISO date (2026-01-15 or 2026-01-15T10:00:00Z)": "phải là ngày ISO (2026-01-15 hoặc 2026-01-15T10:00:00Z)",
	"must be an attribute name": "phải là tên thuộc tính",
	"must be an http(s) URL": "phải là URL http(s)",
	"must be an object of names to values": "phải là object tên → giá trị",
	"must be an object {field, operator, value}": "phải là object {field, operator, value}",
	"must be an object {type, config}": "phải là object {type, config}",
	"must be an object": "phải là object",
	"must be in the future": "phải ở thời điểm tương lai",
	"must be null": "phải là null",
	"must be one of your templates": "phải là một template của bạn",
	"must be true or false": "phải là true hoặc false",
	"must not be before startDate": "không được trước startDate",
	"must not be empty": "không được để trống",
	"must not be negative": "không được âm",
	"must not be null": "không được là null",
	"must not contain a comma": "không được chứa dấu phẩy",
	"must not contain duplicates": "không được có phần tử trùng nhau",
	"no such contact": "không có khách hàng này",
	"no such segment": "không có segment này",
	"no such template": "không có template này",
	"only card templates have a card": "chỉ template card mới có card",
	"only quick_reply templates have options": "chỉ template quick_reply mới có options",
	"start must be before end": "start phải trước end",
	"a card template needs a card {title, text, imageUrl?, buttons?}": "template card cần một card {title, text, imageUrl?, buttons?}",
	"a quick_reply template needs 1 to 20 options": "template quick_reply cần 1 đến 20 options",
};

const PATTERNS: Rule[] = [
	[/^must be at most (\d+) characters$/, "tối đa $1 ký tự"],
	[/^must be at least (\d+) characters$/, "tối thiểu $1 ký tự"],
	[/^must be 1 to (\d+) characters$/, "phải có từ 1 đến $1 ký tự"],
	[/^must be at most (\d+) seconds \(90 days\)$/, "tối đa $1 giây (90 ngày)"],
	[/^must have at most (\d+) items$/, "tối đa $1 phần tử"],
	[/^must have at least (\d+) items?$/, "cần ít nhất $1 phần tử"],
	[/^must have at most (\d+) entries$/, "tối đa $1 mục"],
	[/^must have at least (\d+) entries$/, "cần ít nhất $1 mục"],
	[/^must be at least (-?[\d.]+)$/, "phải lớn hơn hoặc bằng $1"],
	[/^must be at most (-?[\d.]+)$/, "phải nhỏ hơn hoặc bằng $1"],
	[/^must be greater than (-?[\d.]+)$/, "phải lớn hơn $1"],
	[/^must be less than (-?[\d.]+)$/, "phải nhỏ hơn $1"],
	[/^must be a multiple of (.+)$/, "phải là bội số của $1"],
	[/^must be equal to (.+)$/, "phải bằng $1"],
	[/^must be one of: (.*)$/s, "phải là một trong: $1"],
	[/^for (.+) must be one of: (.*)$/s, "với $1 phải là một trong: $2"],
	[/^must be a valid (.+)$/, "phải là $1 hợp lệ"],
	[/^must be a list of 1 to (\d+) values$/, "phải là danh sách 1 đến $1 giá trị"],
	[/^must be a list of 1 to (\d+) user ids$/, "phải là danh sách 1 đến $1 ID người dùng"],
	[/^must be a list of at most (\d+) keywords$/, "phải là danh sách tối đa $1 từ khóa"],
	[/^must be a non-empty string of at most (\d+) characters$/, "phải là chuỗi không rỗng, tối đa $1 ký tự"],
	[/^must be a number of days from 0 to (\d+)$/, "phải là số ngày từ 0 đến $1"],
	[/^must be left out for (.+)$/, "phải bỏ trống với $1"],
	[/^is already the id of (.+)$/, "đã là id của $1"],
	[/^is not a field of (.+)$/, "không phải trường của $1"],
	[/^is not a setting of (.+)$/, "không phải thiết lập của $1"],
	[
		/^a contact has at most (\d+) attributes \(this would make (\d+)\)$/,
		"một khách hàng có tối đa $1 thuộc tính (thao tác này sẽ thành $2)",
	],
	[/^a contact has at most (\d+) tags$/, "một khách hàng có tối đa $1 tag"],
	[/^a flow has at most (\d+) nodes \(conditions' branches included\)$/, "một flow có tối đa $1 node (kể cả các nhánh điều kiện)"],
	[/^conditions may be nested at most (\d+) deep$/, "điều kiện lồng nhau tối đa $1 cấp"],
	[/^the campaign is (\w+); (\w+) applies to: (.*)$/, "chiến dịch đang ở trạng thái $1; $2 chỉ áp dụng cho: $3"],
	[/^the period must be at most (\d+) days$/, "khoảng thời gian tối đa $1 ngày"],
	[/^\{\{(.+)\}\} is not a valid placeholder .*$/, "{{$1}} không phải biến hợp lệ (chữ, số và _, hoặc attributes.<key>)"],
];

/** The rule in Vietnamese, or null when the English message is not one we know. */
export function vietnameseRule(message: string): string | null {
	if (Object.hasOwn(EXACT, message)) return EXACT[message];
	for (const [pattern, vi] of PATTERNS) if (pattern.test(message)) return message.replace(pattern, vi);
	return null;
}

/** A detail's message in the caller's language: English as the check said it; Vietnamese naming the field. */
export function localizeDetail(field: string, message: string, locale: Locale): string {
	if (locale === "en") return message;
	const rule = vietnameseRule(message);
	const subject = field || "dữ liệu";
	return rule ? `${subject} ${rule}` : `${subject} không hợp lệ (${message})`;
}
