// Search "a substring of either name, any case" served by an equality FerretDB can push down:
// each contact carries `searchKeys`, every substring of one to three characters of its lower-cased
// username and display name. A search asks for one of its own such substrings (an equality on an
// array element: `_jsonb->'searchKeys' @> '"lan"'`, a GIN lookup; on MongoDB the multikey index
// `{merchantId, searchKeys}`), and the exact substring test (a case-insensitive regex) runs on
// the few rows that carry it.

const GRAM = 3;

/** The substrings of 1..3 characters of each name, lower-cased, once each. */
export function searchKeys(...names: (string | null | undefined)[]): string[] {
	const keys = new Set<string>();
	for (const name of names) {
		const chars = [...(name ?? "").toLowerCase()];
		for (let i = 0; i < chars.length; i++) {
			for (let n = 1; n <= GRAM && i + n <= chars.length; n++) keys.add(chars.slice(i, i + n).join(""));
		}
	}
	return [...keys];
}

/**
 * The key a search asks for: one of its substrings of three characters (two or one for shorter
 * text), preferring one without spaces, the last such (names end on the given name, rarer than
 * the family or middle name that start them).
 */
export function searchKeyOf(text: string): string | null {
	const chars = [...text.toLowerCase()];
	if (!chars.length) return null;
	const n = Math.min(GRAM, chars.length);
	const grams: string[] = [];
	for (let i = 0; i + n <= chars.length; i++) grams.push(chars.slice(i, i + n).join(""));
	return [...grams].reverse().find(g => !/\s/.test(g)) ?? grams[grams.length - 1];
}
