import { config } from "../../lib/config.ts";

// Opt-out by keyword. The whole message must be one of the keywords (after folding case,
// accents and punctuation), as SMS carriers do it: "STOP", "stop!", "Hủy", "dung" and
// "HỦY ĐĂNG KÝ" opt out; "please don't stop the offers" does not. Keywords come from
// OPT_OUT_KEYWORDS (lib/config.ts); the inbox calls this for each inbound message.

/** Lower case, no accents (đ → d), punctuation as spaces, single spaces, trimmed. */
export function foldText(text: string): string {
	return text
		.normalize("NFD")
		.replace(/\p{M}+/gu, "")
		.replace(/[đĐ]/g, "d")
		.toLowerCase()
		.replace(/[^\p{L}\p{N}]+/gu, " ")
		.trim();
}

/** True when the message asks to stop automated messages. */
export function isOptOutMessage(text: string | null | undefined, keywords: readonly string[] = config().optOutKeywords): boolean {
	if (!text) return false;
	const folded = foldText(text);
	if (!folded || folded.length > 60) return false;
	return keywords.some(k => {
		const keyword = foldText(k);
		return keyword.length > 0 && keyword === folded;
	});
}
