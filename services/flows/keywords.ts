import { foldText } from "../contacts/opt-out.ts";

// Keyword triggers: a keyword matches when its words appear in the message as whole words,
// in order, after folding case, accents and punctuation ("Giá?" matches "gia", "GIÁ BAO
// NHIÊU" matches "gia bao nhieu", "giant" does not match "gia").

export type KeywordMatch = "any" | "all";

export function containsKeyword(foldedText: string, keyword: string): boolean {
	const k = foldText(keyword);
	return k.length > 0 && ` ${foldedText} `.includes(` ${k} `);
}

/** True when `text` matches the keywords (`any` of them or `all`); no keywords matches every message. */
export function matchesKeywords(
	text: string | null | undefined,
	keywords: readonly string[] | undefined,
	match: KeywordMatch = "any"
): boolean {
	const list = (keywords ?? []).filter(k => foldText(k).length > 0);
	if (list.length === 0) return true;
	const folded = foldText(text ?? "");
	if (!folded) return false;
	return match === "all" ? list.every(k => containsKeyword(folded, k)) : list.some(k => containsKeyword(folded, k));
}
