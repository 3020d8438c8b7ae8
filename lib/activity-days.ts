import { Schema, type Model } from "mongoose";
import { activityKey } from "./activity-buckets.ts";
import { onlyDuplicates } from "./ids.ts";

// The days on which a merchant's rows of a list had activity: one tiny document per merchant and
// day, inserted (never updated) when a row's activity time is set, so several writers of one
// merchant cannot race (an insert into the `_id` index is atomic everywhere). A list reads the
// markers of a year in one query and walks only those days (lib/activity-buckets.ts), never
// probing a year or month of the big collection (on the embedded FerretDB a probe there ships
// every row of the bucket from PostgreSQL, docs/embedded-engine.md). A marker whose rows have
// all moved on to later days stays: reading that day finds nothing, cheaply. The models:
// models/contact-activity-day.model.ts, models/conversation-activity-day.model.ts.

export interface ActivityDay {
	_id: string;
	merchantId: string;
	year: string;
	day: string;
}

export type ActivityDayModel = Model<ActivityDay>;

export const activityDaySchema = () => {
	const schema = new Schema<ActivityDay>(
		{
			/** "<merchantId>|d2026-11-02" */
			_id: { type: String, required: true },
			merchantId: { type: String, required: true },
			/** "y2026" */
			year: { type: String, required: true },
			/** "d2026-11-02" */
			day: { type: String, required: true },
		},
		{ versionKey: false }
	);
	// A list reads one year of a merchant's markers.
	schema.index({ merchantId: 1, year: 1 });
	return schema;
};

// Markers this process has written: most activity lands on a day already marked.
const known = new Set<string>();
const KNOWN_MAX = 20_000;

/** Marks the days of `dates` for the merchant (idempotent: a marker already there is left as it is). */
export async function markActivityDays(model: ActivityDayModel, merchantId: string, dates: (Date | null | undefined)[]): Promise<void> {
	const scope = `${model.db.name}.${model.collection.name}`;
	const docs = new Map<string, { _id: string; merchantId: string; year: string; day: string }>();
	for (const at of dates) {
		if (!at || Number.isNaN(new Date(at).getTime())) continue;
		const day = activityKey("d", new Date(at));
		const _id = `${merchantId}|${day}`;
		if (known.has(`${scope}|${_id}`)) continue;
		docs.set(_id, { _id, merchantId, year: activityKey("y", new Date(at)), day });
	}
	if (!docs.size) return;
	await model.collection.insertMany([...docs.values()] as never[], { ordered: false }).catch(err => {
		if (!onlyDuplicates(err)) throw err;
	});
	if (known.size > KNOWN_MAX) known.clear();
	for (const id of docs.keys()) known.add(`${scope}|${id}`);
}

/** The days of documents inserted by `insertMany` (a model's post hook), per merchant. */
export async function markInsertedDays(model: ActivityDayModel, docs: unknown): Promise<void> {
	const byMerchant = new Map<string, (Date | null | undefined)[]>();
	for (const d of Array.isArray(docs) ? (docs as { merchantId: string; activityAt?: Date | null }[]) : [])
		byMerchant.set(d.merchantId, [...(byMerchant.get(d.merchantId) ?? []), d.activityAt]);
	for (const [merchantId, dates] of byMerchant) await markActivityDays(model, merchantId, dates);
}
