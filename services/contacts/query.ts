import { escapeRegex } from "../../lib/regex.ts";
import { searchKeyOf } from "../../lib/search-keys.ts";

// The filters of GET /contacts and GET /contacts/export, as one query (without the merchant).

export interface ContactFilterParams {
	accountId?: string;
	tags?: string;
	search?: string;
}

/** "vip, customer,,vip" → ["vip", "customer"] */
export function tagList(tags: string | undefined): string[] {
	return [
		...new Set(
			(tags ?? "")
				.split(",")
				.map(t => t.trim())
				.filter(Boolean)
		),
	];
}

/**
 * Equalities on top-level fields come first and stand alone (the embedded FerretDB pushes only
 * those down to its storage, where our indexes serve them; docs/embedded-engine.md): the first
 * tag is one, the others are checked in `$and` (the same as `$all`); a search asks for one of its
 * substrings in `searchKeys` (lib/search-keys.ts), then for the text itself.
 */
export function contactFilter(p: ContactFilterParams): Record<string, unknown> {
	const filter: Record<string, unknown> = {};
	if (p.accountId) filter.accountId = p.accountId;
	const tags = tagList(p.tags);
	if (tags.length) filter.tags = tags[0];
	const and: Record<string, unknown>[] = tags.slice(1).map(tag => ({ tags: tag }));
	const search = p.search?.trim();
	if (search) {
		filter.searchKeys = searchKeyOf(search);
		// a substring of either name, any case, the text taken literally (never a user regex)
		const pattern = escapeRegex(search);
		filter.$or = [{ username: { $regex: pattern, $options: "i" } }, { displayName: { $regex: pattern, $options: "i" } }];
	}
	if (and.length) filter.$and = and;
	return filter;
}

/** Filters that keep few of a merchant's contacts: a page reads whole days of activity, not hours. */
export function selectiveContactFilter(p: ContactFilterParams): boolean {
	return tagList(p.tags).length > 0 || Boolean(p.search?.trim());
}
