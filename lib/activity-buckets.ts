import { BadRequestError } from "./errors.ts";
import { createHash } from "node:crypto";

// Lists "most recent activity first" as walks over time buckets, so a page costs what is on it,
// not what the merchant has. The embedded FerretDB 1.24 pushes only equality filters down to its
// storage (as `_jsonb->'f' @> v`, served by our GIN indexes); it sorts, skips, limits and counts
// in Go after reading every document the pushed-down filter matched (docs/embedded-engine.md).
// A merchant-wide list sorted by date therefore read, decoded and sorted all of the merchant's
// rows. Here each row carries `activityKeys`, the day and hour of its activity
// (["d2026-11-02", "h2026-11-02T04"], UTC), and the days on which a merchant's
// rows had activity are marked in a small collection (models/activity-day.model.ts). A page reads
// the markers of a year (one query), then, latest day first, the rows of each hour (or of each
// day for a selective filter) with `{merchant, activityKeys: key, ...filters}` (an equality on an
// array element: pushed down, and served on MongoDB by the index `{merchantId, activityKeys}`),
// sorts them here and stops once it has the page.

export const ACTIVITY_LEVELS = ["y", "m", "d", "h"] as const;
export type ActivityLevel = (typeof ACTIVITY_LEVELS)[number];

/** No merchant's activity on X is older than X's direct messages; the walk stops there. */
const FIRST_YEAR = 2006;
/** At most this many buckets asked at once: hours are small, days of a selective filter too. */
const BATCH = { h: 16, d: 8 } as const;
const YEARS_AT_ONCE = 4;

const SLICE: Record<ActivityLevel, number> = { y: 4, m: 7, d: 10, h: 13 };

export function activityKey(level: ActivityLevel, at: Date): string {
	return level + at.toISOString().slice(0, SLICE[level]);
}

/** The keys a row active at `at` carries: its day and hour (UTC). */
export function activityKeys(at: Date | string | number | null | undefined): string[] {
	if (at === null || at === undefined) return [];
	const d = new Date(at);
	if (Number.isNaN(d.getTime())) return [];
	return [activityKey("d", d), activityKey("h", d)];
}

/** A row's place in a list: its activity time and id (the order is time descending, then id ascending). */
export interface ListPosition {
	at: number;
	id: string;
}

export interface WalkOptions<T> {
	/** The days ("d2026-11-02") marked for a year ("y2026"), in any order. */
	days(year: string): Promise<string[]>;
	/** The rows of one bucket ("d…" or "h…"). */
	read(key: string): Promise<T[]>;
	positionOf(row: T): ListPosition;
	/** Rows at or before this position (a cursor's) are left out. */
	after?: ListPosition | null;
	/** Stop once this many rows are collected. */
	need: number;
	/** The buckets read whole: hours by default, days when the filter keeps few rows of each. */
	leaf?: "d" | "h";
	/** The latest activity to expect (default: a day from now). */
	now?: number;
}

export interface Walk<T> {
	rows: T[];
	/** Every marked day down to the first year was read: `rows` are all there is after the start. */
	exhausted: boolean;
	/** Queries sent. */
	queries: number;
}

export function compareByActivity(a: ListPosition, b: ListPosition): number {
	return b.at - a.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

const dayStart = (day: string) => Date.parse(`${day.slice(1)}T00:00:00Z`);

/** Rows in list order (latest activity first), starting after `opts.after`, until `opts.need` are found. */
export async function walkByActivity<T>(opts: WalkOptions<T>): Promise<Walk<T>> {
	const leaf = opts.leaf ?? "h";
	const after = opts.after ?? null;
	const upper = after ? after.at : (opts.now ?? Date.now()) + 86_400_000;
	const out: T[] = [];
	let queries = 0;

	const take = (rows: T[]) => {
		const kept = rows
			.map(row => ({ row, pos: opts.positionOf(row) }))
			.filter(({ pos }) => !after || compareByActivity(after, pos) < 0)
			.sort((a, b) => compareByActivity(a.pos, b.pos));
		for (const { row } of kept) out.push(row);
	};

	// The leaf buckets of the marked days, latest first, none starting after `upper`.
	const leaves = (days: string[]): string[] => {
		const keys: string[] = [];
		for (const day of days) {
			const start = dayStart(day);
			if (!(start <= upper)) continue;
			if (leaf === "d") keys.push(day);
			else for (let h = 23; h >= 0; h--) if (start + h * 3_600_000 <= upper) keys.push(activityKey("h", new Date(start + h * 3_600_000)));
		}
		return keys;
	};

	const years: string[] = [];
	for (let year = new Date(upper).getUTCFullYear(); year >= FIRST_YEAR; year--) years.push(`y${year}`);
	// Buckets read at once: two first, then as many as the rows seen per bucket so far say the page
	// still needs (doubling while they are empty), at most BATCH. Reading eight days of a filter
	// when one holds the page cost four times the time in the benchmark.
	let size = 2;
	let bucketsRead = 0;
	// The markers of a few years at once: most lists end in the first; an exhausted walk takes six rounds.
	for (let y = 0; y < years.length; y += YEARS_AT_ONCE) {
		const group = years.slice(y, y + YEARS_AT_ONCE);
		queries += group.length;
		const marked = await Promise.all(group.map(year => opts.days(year)));
		const keys = leaves(marked.flat().sort().reverse());
		for (let b = 0; b < keys.length;) {
			const batch = keys.slice(b, b + size);
			b += batch.length;
			queries += batch.length;
			const found = await Promise.all(batch.map(key => opts.read(key)));
			for (const rows of found) take(rows);
			if (out.length >= opts.need) return { rows: out, exhausted: false, queries };
			bucketsRead += batch.length;
			const perBucket = out.length / bucketsRead;
			size = Math.max(1, Math.min(BATCH[leaf], perBucket > 0 ? Math.ceil(((opts.need - out.length) / perBucket) * 1.25) : size * 2));
		}
	}
	return { rows: out, exhausted: true, queries };
}

// Cursors: opaque to the client, bound to the merchant and the list they came from.

function merchantTag(merchantId: string): string {
	return createHash("sha256").update(merchantId).digest("base64url").slice(0, 10);
}

export function encodeListCursor(list: string, merchantId: string, pos: ListPosition): string {
	return Buffer.from(JSON.stringify([list, merchantTag(merchantId), pos.at, pos.id])).toString("base64url");
}

/** The position a cursor of this list and merchant names; a 400 (INVALID_CURSOR) for anything else. */
export function decodeListCursor(list: string, merchantId: string, cursor: string): ListPosition {
	let parsed: unknown;
	try {
		parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
	} catch {
		parsed = null;
	}
	const [name, tag, at, id] = Array.isArray(parsed) && parsed.length === 4 ? (parsed as unknown[]) : [];
	// A cursor of another merchant (or list) is refused like a malformed one: it says nothing of either.
	if (name !== list || tag !== merchantTag(merchantId) || typeof at !== "number" || !Number.isFinite(at) || typeof id !== "string")
		throw new BadRequestError("The cursor is not valid for this list", "INVALID_CURSOR", [
			{ field: "after", message: "is not a valid cursor" },
		]);
	return { at, id };
}
