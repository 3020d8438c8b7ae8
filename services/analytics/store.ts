import type { Collection, Document } from "mongodb";
import { AnalyticsFactModel } from "../../models/analytics-fact.model.ts";
import { AnalyticsQuarterModel } from "../../models/analytics-quarter.model.ts";
import { AnalyticsDayModel } from "../../models/analytics-day.model.ts";
import { AnalyticsDayTotalModel } from "../../models/analytics-day-total.model.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { dayOfQuarter, dayRowId, dayTotalsRowId, quarterInDay, quarterRowId, QUARTERS_PER_DAY } from "./buckets.ts";
import { countDay, countQuarter, sameDay, sameQuarter, totalsRowOf, type DayCell, type QuarterCell } from "./cells.ts";
import { sameFact, type FactDraft, type FactType, type Slots } from "./facts.ts";

// Writes that stay exact on FerretDB, where a single-document update is a read-modify-write that
// a concurrent one can overwrite. Nothing is incremented. Every row (a fact slot, a quarter row,
// a day row) is written by a check loop: derive what it should hold from its sources, read what
// it holds, stop if equal, else write and check again. Whoever changes a source runs the loop of
// the rows above it afterwards, and whoever writes a row checks it again after writing; so the
// last write to any row is followed by a check that saw the final sources, and a stale write
// from a slow writer is always repaired by that same writer. Inserts race on `_id` (unique), and
// losing one just means checking again.

const MAX_ROUNDS = 25;

/** The analytics' own collections, facts first, then the rows counted from them. */
export const ANALYTICS_MODELS = [AnalyticsFactModel, AnalyticsQuarterModel, AnalyticsDayModel, AnalyticsDayTotalModel];

export interface StoreLogger {
	warn(...args: unknown[]): void;
}

type StoredFact = FactDraft & { deleted?: boolean };
type Sum = { n: number; s: number };
type QuarterRow = Sum & { q: number; cells: QuarterCell[] };
type DayRow = Sum & { cells: DayCell[] };

/** The fact as drafted, from its stored row. */
export const draftOf = (f: StoredFact): FactDraft => ({
	_id: f._id,
	merchantId: f.merchantId,
	accountId: f.accountId ?? "",
	contactId: f.contactId ?? null,
	type: f.type,
	quarter: f.quarter,
	dims: f.dims ?? [],
	value: f.value ?? 0,
	ref: f.ref ?? null,
});

const asDraft = (f: StoredFact | null): FactDraft | null => (f && !f.deleted ? draftOf(f) : null);

/** (merchant, account, type, quarter): a quarter row to recount. */
export type QuarterKey = string;
export const quarterKeyOf = (f: { merchantId: string; accountId?: string | null; type: string; quarter: number }): QuarterKey =>
	JSON.stringify([f.merchantId, f.accountId ?? "", f.type, f.quarter]);

/** A fact that no longer holds: kept (for the rebuild's bookkeeping) without its contact. */
function tombstone(f: StoredFact, now: Date) {
	return {
		merchantId: f.merchantId,
		accountId: f.accountId ?? "",
		contactId: null,
		type: f.type,
		quarter: f.quarter,
		dims: [],
		value: 0,
		ref: null,
		deleted: true,
		recordedAt: now,
	};
}

const backoff = (round: number) => new Promise(r => setTimeout(r, Math.random() * 5 * round));

/**
 * Makes the slots of one entity hold what `derive` says (re-derived every round, from the
 * entity's current state). Returns the quarter rows whose facts changed.
 */
export async function syncSlots(
	derive: () => Promise<Slots>,
	log: StoreLogger,
	now: () => Date = () => new Date()
): Promise<Set<QuarterKey>> {
	const touched = new Set<QuarterKey>();
	for (let round = 0; round < MAX_ROUNDS; round++) {
		const desired = await derive();
		const ids = Object.keys(desired);
		const held = await Promise.all(ids.map(id => AnalyticsFactModel.findById(id).lean<StoredFact>()));
		let changed = false;
		await Promise.all(
			ids.map(async (id, i) => {
				const want = desired[id];
				const have = held[i];
				if (sameFact(want, asDraft(have))) return;
				changed = true;
				if (have) touched.add(quarterKeyOf(have));
				if (want) touched.add(quarterKeyOf(want));
				try {
					if (want && !have) await AnalyticsFactModel.collection.insertOne({ ...want, deleted: false, recordedAt: now() } as never);
					else if (want)
						await AnalyticsFactModel.collection.replaceOne({ _id: id } as never, { ...want, deleted: false, recordedAt: now() });
					else if (have) await AnalyticsFactModel.collection.replaceOne({ _id: id } as never, tombstone(have, now()));
				} catch (err) {
					if (!isDuplicateKey(err)) throw err;
				}
			})
		);
		if (!changed) return touched;
		if (round > 0) await backoff(round);
	}
	log.warn("analytics: facts still changing after", MAX_ROUNDS, "rounds; the next event or a rebuild settles them");
	return touched;
}

/** Tombstones every fact about a contact (it was erased); returns the quarter rows to recount. */
export async function dropContactFacts(
	merchantId: string,
	contactId: string,
	now: () => Date = () => new Date()
): Promise<Set<QuarterKey>> {
	const touched = new Set<QuarterKey>();
	const facts = await AnalyticsFactModel.find({ contactId, merchantId }).lean<StoredFact[]>();
	for (const f of facts) {
		touched.add(quarterKeyOf(f));
		await AnalyticsFactModel.collection.replaceOne({ _id: f._id } as never, tombstone(f, now()));
	}
	return touched;
}

/** Recounts quarter rows, then the day rows above them. */
export async function recount(keys: Iterable<QuarterKey>, log: StoreLogger, now: () => Date = () => new Date()): Promise<void> {
	const quarters = [...new Set(keys)].map(k => JSON.parse(k) as [string, string, FactType, number]);
	await Promise.all(quarters.map(([m, a, t, q]) => recountQuarter(m, a, t, q, log, now)));
	const days = [...new Set(quarters.map(([m, a, t, q]) => JSON.stringify([m, a, t, dayOfQuarter(q)])))].map(
		d => JSON.parse(d) as [string, string, string, number]
	);
	await Promise.all(days.map(([m, a, t, d]) => recountDay(m, a, t, d, log, now)));
	const totals = [...new Set(days.map(([m, a, , d]) => JSON.stringify([m, a, d])))].map(d => JSON.parse(d) as [string, string, number]);
	await Promise.all(totals.map(([m, a, d]) => recountDayTotals(m, a, d, log, now)));
}

async function upsertOrDelete(model: { collection: Collection<Document> }, id: string, doc: Document | null) {
	try {
		if (doc) await model.collection.replaceOne({ _id: id } as Document, doc, { upsert: true });
		else await model.collection.deleteOne({ _id: id } as Document);
	} catch (err) {
		if (!isDuplicateKey(err)) throw err; // two upserts inserted at once: check again
	}
}

export async function recountQuarter(
	merchantId: string,
	accountId: string,
	type: FactType,
	quarter: number,
	log: StoreLogger,
	now: () => Date = () => new Date()
) {
	const id = quarterRowId(merchantId, accountId, type, quarter);
	for (let round = 0; round < MAX_ROUNDS; round++) {
		const facts = await AnalyticsFactModel.find({ merchantId, accountId, type, quarter, deleted: false }, { dims: 1, value: 1 }).lean<
			{ dims: string[]; value: number }[]
		>();
		const want = countQuarter(facts);
		const row = await AnalyticsQuarterModel.findById(id).lean<QuarterRow>();
		if (sameQuarter(row, want)) return;
		await upsertOrDelete(
			AnalyticsQuarterModel as never,
			id,
			want.n ? { merchantId, accountId, type, day: dayOfQuarter(quarter), q: quarterInDay(quarter), ...want, at: now() } : null
		);
		if (round > 0) await backoff(round);
	}
	log.warn("analytics: quarter row still changing after", MAX_ROUNDS, "rounds", { merchantId, accountId, type, quarter });
}

export async function recountDay(
	merchantId: string,
	accountId: string,
	type: string,
	day: number,
	log: StoreLogger,
	now: () => Date = () => new Date()
) {
	const id = dayRowId(merchantId, accountId, type, day);
	for (let round = 0; round < MAX_ROUNDS; round++) {
		const rows = await AnalyticsQuarterModel.find({ merchantId, accountId, type, day }, { q: 1, n: 1, s: 1, cells: 1 }).lean<
			QuarterRow[]
		>();
		const want = countDay(rows.filter(r => r.q >= 0 && r.q < QUARTERS_PER_DAY));
		const row = await AnalyticsDayModel.findById(id).lean<DayRow>();
		if (sameDay(row, want)) return;
		await upsertOrDelete(AnalyticsDayModel as never, id, want.n ? { merchantId, accountId, type, day, ...want, at: now() } : null);
		if (round > 0) await backoff(round);
	}
	log.warn("analytics: day row still changing after", MAX_ROUNDS, "rounds", { merchantId, accountId, type, day });
}

/** The account's totals row of the day: every type at once, from the day rows (one per type). */
export async function recountDayTotals(
	merchantId: string,
	accountId: string,
	day: number,
	log: StoreLogger,
	now: () => Date = () => new Date()
) {
	const id = dayTotalsRowId(merchantId, accountId, day);
	for (let round = 0; round < MAX_ROUNDS; round++) {
		const rows = await AnalyticsDayModel.find({ merchantId, accountId, day }, { type: 1, n: 1, s: 1, cells: 1 }).lean<
			(DayRow & { type: string })[]
		>();
		const want = totalsRowOf(rows);
		const held = await AnalyticsDayTotalModel.findById(id, { totals: 1, quarters: 1 }).lean<{ totals: string; quarters: string }>();
		if (held ? want !== null && held.totals === want.totals && held.quarters === want.quarters : want === null) return;
		await upsertOrDelete(AnalyticsDayTotalModel as never, id, want ? { merchantId, accountId, day, ...want, at: now() } : null);
		if (round > 0) await backoff(round);
	}
	log.warn("analytics: totals row still changing after", MAX_ROUNDS, "rounds", { merchantId, accountId, day });
}
