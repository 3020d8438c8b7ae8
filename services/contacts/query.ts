import { escapeRegex } from "../../lib/regex.ts";

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

export function contactFilter(p: ContactFilterParams): Record<string, unknown> {
	const filter: Record<string, unknown> = {};
	if (p.accountId) filter.accountId = p.accountId;
	const tags = tagList(p.tags);
	if (tags.length === 1) filter.tags = tags[0];
	else if (tags.length > 1) filter.tags = { $all: tags };
	const search = p.search?.trim();
	if (search) {
		// a substring of either name, any case, the text taken literally (never a user regex)
		const pattern = escapeRegex(search);
		filter.$or = [{ username: { $regex: pattern, $options: "i" } }, { displayName: { $regex: pattern, $options: "i" } }];
	}
	return filter;
}
