import { Readable } from "node:stream";
import type { Contact } from "../../models/contact.model.ts";

// CSV export: RFC 4180 quoting, and a leading ' on cells that a spreadsheet would run as a
// formula (=, +, -, @), since usernames and attributes are customer-written text.

export const CSV_COLUMNS = [
	"id",
	"accountId",
	"twitterUserId",
	"username",
	"displayName",
	"tags",
	"attributes",
	"source",
	"conversationCount",
	"firstInteractionAt",
	"lastInteractionAt",
	"optedOut",
	"optedOutAt",
] as const;

export function csvCell(value: unknown): string {
	if (value === null || value === undefined) return "";
	let text = value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
	if (/^[=+\-@\t\r]/.test(text) && typeof value === "string") text = `'${text}`;
	return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(c: Contact): string {
	const row: unknown[] = [
		c._id,
		c.accountId,
		c.twitterUserId,
		c.username,
		c.displayName,
		(c.tags ?? []).join(";"),
		c.attributes && Object.keys(c.attributes).length ? c.attributes : "",
		c.source,
		c.conversationCount ?? 0,
		c.firstInteractionAt,
		c.lastInteractionAt,
		c.optedOut ?? false,
		c.optedOutAt,
	];
	return row.map(csvCell).join(",") + "\r\n";
}

/** A stream of the CSV, reading pages from `nextPage` (keyset by id) as the client consumes it. */
export function csvStream(nextPage: (afterId: string | null) => Promise<Contact[]>): Readable {
	async function* lines() {
		yield "\uFEFF" + CSV_COLUMNS.join(",") + "\r\n";
		let after: string | null = null;
		for (;;) {
			const page = await nextPage(after);
			if (page.length === 0) return;
			yield page.map(csvRow).join("");
			after = page[page.length - 1]._id;
		}
	}
	return Readable.from(lines(), { objectMode: false });
}
