import { createHash } from "node:crypto";
import type { Collection, Document } from "mongodb";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { AnalyticsFactModel } from "../../models/analytics-fact.model.ts";
import { AnalyticsQuarterModel } from "../../models/analytics-quarter.model.ts";
import { AnalyticsDayModel } from "../../models/analytics-day.model.ts";
import { AnalyticsDayTotalModel } from "../../models/analytics-day-total.model.ts";
import { dayOfQuarter, dayRowId, dayTotalsRowId, quarterInDay, quarterRowId } from "./buckets.ts";
import {
	canonical,
	countDay,
	finishTally,
	newTally,
	tallyFact,
	totalsRowOf,
	type DayCell,
	type QuarterCount,
	type QuarterTally,
} from "./cells.ts";
import {
	campaignFacts,
	conversationFacts,
	contactFacts,
	firstResponseFact,
	firstSlotId,
	isFirstResponse,
	messageFacts,
	type ConversationLike,
	type FactDraft,
	type MessageLike,
	type Slots,
} from "./facts.ts";
import { campaignFromRow, campaignsCollection } from "./sync.ts";
import { draftOf, quarterKeyOf, recount, type StoreLogger } from "./store.ts";

// Recomputes a merchant's analytics from the raw rows (contacts, conversations, messages, the
// campaigns collection) with the same derivations as the live path (./facts.ts), then every
// counter row from those facts. Only differences are written: a rebuild of unchanged data
// writes nothing, a lost collection is inserted back in bulk. It may run while events arrive:
//   1. t0 = now. A fact or row the live path wrote after t0 wins over the rebuild's copy (it is
//      newer than the raw rows the rebuild read), and is neither replaced nor deleted.
//   2. Every quarter row touched by a fact recorded after t0 (or where the rebuild counted its
//      own older copy of such a fact) is then recounted with the live path's check loop, so
//      whatever the live path did during the rebuild ends up counted.
// Campaign completions recorded from events whose campaign row is missing are kept as recorded.

const BATCH = 2_000;
/** Ids per delete: FerretDB deletes by listing ids in one SQL statement, and SQLite caps its parameters. */
const DELETE_CHUNK = 10_000;

export interface RebuildResult {
	merchantId: string;
	facts: number;
	quarterRows: number;
	dayRows: number;
	totalRows: number;
	written: Record<string, { inserted: number; replaced: number; deleted: number }>;
	recountedAfter: number;
	seconds: number;
}

/** Inserts, skipping ids that exist already; returns the skipped ids. */
async function insertNew(collection: Collection<Document>, docs: Document[]): Promise<string[]> {
	if (!docs.length) return [];
	try {
		await collection.insertMany(docs, { ordered: false });
		return [];
	} catch (err) {
		type WriteError = { code?: number; index?: number; err?: { index?: number; code?: number } };
		const e = err as { writeErrors?: WriteError[] | WriteError };
		const writeErrors: WriteError[] = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
		if (!writeErrors.length || writeErrors.some(w => (w.code ?? w.err?.code) !== 11000)) throw err;
		return writeErrors.map(w => String(docs[w.index ?? w.err?.index ?? -1]?._id));
	}
}

const digest = (doc: Document, fields: readonly string[]) =>
	createHash("sha1")
		.update(canonical(Object.fromEntries(fields.map(f => [f, doc[f] ?? null]))))
		.digest("base64");

/**
 * Brings a merchant's rows of one collection to what the rebuild computes: loads what is held
 * (ids and a digest of the counted fields), then takes the computed rows one by one and writes
 * only the new and the changed; what was held and not computed again is deleted at the end.
 */
class Reconciler {
	private held = new Map<string, string>();
	/** Written by the live path after t0: newer than the rebuild's reading, left alone. */
	private fresh = new Set<string>();
	private inserts: Document[] = [];
	readonly stats = { inserted: 0, replaced: 0, deleted: 0 };
	readonly collection: Collection<Document>;
	readonly fields: readonly string[];
	readonly stamp: string;
	readonly t0: Date;

	/** Told of each computed row that was not written because the live path's copy is newer. */
	readonly onSkip: (doc: Document) => void;

	constructor(
		collection: Collection<Document>,
		fields: readonly string[],
		stamp: string,
		t0: Date,
		onSkip: (doc: Document) => void = () => {}
	) {
		this.collection = collection;
		this.fields = fields;
		this.stamp = stamp;
		this.t0 = t0;
		this.onSkip = onSkip;
	}

	async load(merchantId: string): Promise<void> {
		const projection = Object.fromEntries([...this.fields, this.stamp].map(f => [f, 1]));
		for await (const doc of this.collection.find({ merchantId }, { projection, batchSize: BATCH })) {
			const id = String(doc._id);
			if (doc[this.stamp] > this.t0) this.fresh.add(id);
			else this.held.set(id, digest(doc, this.fields));
		}
	}

	async put(doc: Document): Promise<void> {
		const id = String(doc._id);
		if (this.fresh.has(id)) return this.onSkip(doc);
		const had = this.held.get(id);
		this.held.delete(id);
		const row = { ...doc, [this.stamp]: this.t0 };
		if (had === undefined) {
			this.inserts.push(row);
			if (this.inserts.length >= BATCH) await this.flush();
		} else if (had !== digest(doc, this.fields)) {
			await this.collection.replaceOne({ _id: id, [this.stamp]: { $lte: this.t0 } } as Document, row);
			this.stats.replaced++;
		}
	}

	private async flush(): Promise<void> {
		const docs = this.inserts;
		this.inserts = [];
		// A duplicate was inserted by the live path after t0: newer than our copy.
		const skipped = new Set(await insertNew(this.collection, docs));
		this.stats.inserted += docs.length - skipped.size;
		for (const doc of docs) if (skipped.has(String(doc._id))) this.onSkip(doc);
	}

	async finish(): Promise<void> {
		await this.flush();
		const stale = [...this.held.keys()];
		for (let i = 0; i < stale.length; i += DELETE_CHUNK) {
			const res = await this.collection.deleteMany({
				_id: { $in: stale.slice(i, i + DELETE_CHUNK) },
				[this.stamp]: { $lte: this.t0 },
			} as Document);
			this.stats.deleted += res.deletedCount;
		}
		this.held.clear();
	}
}

const FACT_FIELDS = ["merchantId", "accountId", "contactId", "type", "quarter", "dims", "value", "ref", "deleted"] as const;
const QUARTER_FIELDS = ["merchantId", "accountId", "type", "day", "q", "n", "s", "cells"] as const;
const DAY_FIELDS = ["merchantId", "accountId", "type", "day", "n", "s", "cells"] as const;
const TOTALS_FIELDS = ["merchantId", "accountId", "day", "totals", "quarters"] as const;
type Targets = { quarters: Reconciler; days: Reconciler; totals: Reconciler };

const collectionOf = (model: { collection: unknown }) => model.collection as Collection<Document>;

interface Tally extends QuarterTally {
	accountId: string;
	type: string;
	quarter: number;
}

/** Writes the derived facts and counts them into quarter tallies as they go (no second read). */
class FactWriter {
	derived = 0;
	readonly tallies = new Map<string, Tally>();
	readonly target: Reconciler;
	constructor(target: Reconciler) {
		this.target = target;
	}
	async add(slots: Slots): Promise<void> {
		for (const fact of Object.values(slots)) {
			if (!fact) continue;
			this.derived++;
			await this.target.put({ ...fact, deleted: false });
			const id = quarterRowId(fact.merchantId, fact.accountId, fact.type, fact.quarter);
			let t = this.tallies.get(id);
			if (!t) this.tallies.set(id, (t = { ...newTally(), accountId: fact.accountId, type: fact.type, quarter: fact.quarter }));
			tallyFact(t, fact);
		}
	}
}

const MESSAGE_FIELDS = {
	merchantId: 1,
	accountId: 1,
	conversationId: 1,
	contactId: 1,
	direction: 1,
	status: 1,
	origin: 1,
	sentAt: 1,
	readAt: 1,
	createdAt: 1,
	responseSeconds: 1,
};

async function deriveFacts(merchantId: string, writer: FactWriter, log: (line: string) => void): Promise<void> {
	// Facts recorded from campaign.completed events (no campaign row to derive them from).
	const fromEvents = await AnalyticsFactModel.find({ merchantId, type: "campaign", deleted: false }).lean<FactDraft[]>();

	let n = 0;
	for await (const c of ContactModel.find({ merchantId }).lean().cursor({ batchSize: BATCH })) {
		await writer.add(contactFacts(c._id, c as never));
		n++;
	}
	log(`contacts: ${n}`);

	n = 0;
	const awaitingFirst = new Map<string, { conversation: ConversationLike; candidates: MessageLike[] }>();
	for await (const c of ConversationModel.find({ merchantId }).lean().cursor({ batchSize: BATCH })) {
		const conversation = c as unknown as ConversationLike;
		const slots = conversationFacts(conversation._id, conversation, []);
		delete slots[firstSlotId(conversation._id)];
		await writer.add(slots);
		if (conversation.firstResponseAt) awaitingFirst.set(conversation._id, { conversation, candidates: [] });
		n++;
	}
	log(`conversations: ${n}`);

	n = 0;
	for await (const row of MessageModel.find({ merchantId }, MESSAGE_FIELDS).lean().cursor({ batchSize: BATCH })) {
		const m = row as unknown as MessageLike;
		await writer.add(messageFacts(m._id, m));
		if (m.direction === "outbound" && typeof m.responseSeconds === "number") {
			const pending = awaitingFirst.get(m.conversationId);
			if (pending && isFirstResponse(m, pending.conversation)) pending.candidates.push(m);
		}
		if (++n % 100_000 === 0) log(`messages: ${n}…`);
	}
	log(`messages: ${n}`);
	for (const { conversation, candidates } of awaitingFirst.values()) {
		await writer.add({ [firstSlotId(conversation._id)]: firstResponseFact(conversation, candidates) });
	}

	const rowsSeen = new Set<string>();
	for await (const row of campaignsCollection().find({ merchantId })) {
		rowsSeen.add(row._id);
		const campaign = campaignFromRow(row);
		if (campaign) await writer.add(campaignFacts(campaign));
	}
	for (const f of fromEvents) {
		const campaignId = f._id.slice(`campaign:${merchantId}:`.length);
		if (!rowsSeen.has(campaignId)) await writer.add({ [f._id]: draftOf(f) });
	}
}

/**
 * Quarter, day and totals rows from the derived facts' tallies. A fact the live path recorded
 * after t0 may differ from the derived one: its quarter is recounted from the database after.
 */
async function rebuildCounters(merchantId: string, tallies: Map<string, Tally>, targets: Targets) {
	let quarterRows = 0;
	const days = new Map<string, { accountId: string; type: string; day: number; rows: (QuarterCount & { q: number })[] }>();
	for (const [id, t] of tallies) {
		const count = finishTally(t);
		const day = dayOfQuarter(t.quarter);
		const q = quarterInDay(t.quarter);
		await targets.quarters.put({ _id: id, merchantId, accountId: t.accountId, type: t.type, day, q, ...count });
		quarterRows++;
		const dayId = dayRowId(merchantId, t.accountId, t.type, day);
		let d = days.get(dayId);
		if (!d) days.set(dayId, (d = { accountId: t.accountId, type: t.type, day, rows: [] }));
		d.rows.push({ ...count, q });
	}
	tallies.clear();
	let dayRows = 0;
	const totals = new Map<string, { accountId: string; day: number; rows: { type: string; n: number; s: number; cells: DayCell[] }[] }>();
	for (const [id, d] of days) {
		const count = countDay(d.rows);
		await targets.days.put({ _id: id, merchantId, accountId: d.accountId, type: d.type, day: d.day, ...count });
		dayRows++;
		const totalsId = dayTotalsRowId(merchantId, d.accountId, d.day);
		let t = totals.get(totalsId);
		if (!t) totals.set(totalsId, (t = { accountId: d.accountId, day: d.day, rows: [] }));
		t.rows.push({ type: d.type, ...count });
	}
	for (const [id, t] of totals) {
		const row = totalsRowOf(t.rows);
		if (row) await targets.totals.put({ _id: id, merchantId, accountId: t.accountId, day: t.day, ...row });
	}
	await Promise.all(Object.values(targets).map(r => r.finish()));
	return { quarterRows, dayRows, totalRows: totals.size };
}

export async function rebuildMerchant(
	merchantId: string,
	opts: { log?: (line: string) => void; logger?: StoreLogger; now?: () => Date } = {}
): Promise<RebuildResult> {
	const log = (line: string) => opts.log?.(`${merchantId}: ${line}`);
	const started = performance.now();
	const t0 = (opts.now ?? (() => new Date()))();
	// Quarters where the rebuild counted its own copy of a fact the live path holds newer: recounted at the end.
	const liveWon = new Set<string>();
	const facts = new Reconciler(collectionOf(AnalyticsFactModel), FACT_FIELDS, "recordedAt", t0, doc =>
		liveWon.add(quarterKeyOf(doc as FactDraft))
	);
	await facts.load(merchantId);
	const writer = new FactWriter(facts);
	await deriveFacts(merchantId, writer, log);
	await facts.finish();
	log(`facts: ${writer.derived} (${JSON.stringify(facts.stats)})`);

	const targets: Targets = {
		quarters: new Reconciler(collectionOf(AnalyticsQuarterModel), QUARTER_FIELDS, "at", t0),
		days: new Reconciler(collectionOf(AnalyticsDayModel), DAY_FIELDS, "at", t0),
		totals: new Reconciler(collectionOf(AnalyticsDayTotalModel), TOTALS_FIELDS, "at", t0),
	};
	await Promise.all(Object.values(targets).map(r => r.load(merchantId)));
	const { quarterRows, dayRows, totalRows } = await rebuildCounters(merchantId, writer.tallies, targets);
	log(`rows: ${quarterRows} quarter, ${dayRows} day, ${totalRows} totals`);

	const after = await AnalyticsFactModel.find(
		{ merchantId, recordedAt: { $gt: t0 } },
		{ merchantId: 1, accountId: 1, type: 1, quarter: 1 }
	).lean();
	await recount(
		[...after.map(f => quarterKeyOf(f)), ...liveWon],
		opts.logger ?? { warn: (...args: unknown[]) => log(args.map(String).join(" ")) }
	);
	return {
		merchantId,
		facts: writer.derived,
		quarterRows,
		dayRows,
		totalRows,
		written: { facts: facts.stats, ...Object.fromEntries(Object.entries(targets).map(([k, r]) => [k, r.stats])) },
		recountedAfter: after.length,
		seconds: Math.round(performance.now() - started) / 1000,
	};
}

/** Every merchant with raw data or analytics rows. */
export async function knownMerchants(): Promise<string[]> {
	const lists = await Promise.all([
		ContactModel.distinct("merchantId"),
		ConversationModel.distinct("merchantId"),
		MessageModel.distinct("merchantId"),
		AnalyticsFactModel.distinct("merchantId"),
		AnalyticsQuarterModel.distinct("merchantId"),
		campaignsCollection().distinct("merchantId"),
	]);
	return [...new Set(lists.flat().map(String))].sort();
}
