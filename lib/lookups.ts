import mongoose, { type Model } from "mongoose";
import { bulkWriteInChunks } from "./bulk-updates.ts";

// Lookups and writes of many documents by key that stay index lookups on both engines.
//
// MongoDB serves `{field: {$in: [...]}}` from the field's index in one command. FerretDB 1.24
// pushes down to PostgreSQL only equality on a field (`{f: v}` or `{f: {$eq: v}}`; see
// internal/backends/postgresql/query.go): `$in`, `$or` and ranges are applied in Go after reading
// every document the rest of the filter leaves, so `{_id: {$in: ids}}` reads the whole collection
// (200,000 messages for a batch of 100 ids). On FerretDB on PostgreSQL a lookup of many keys is
// therefore one equality query per key, a few at a time (each one an index lookup there and on
// MongoDB); on MongoDB, and on FerretDB's SQLite backend (where every query reads the whole table
// anyway), it stays one `$in`. Writes need no such switch: a bulkWrite of one-key updates or
// deletes is one command on both engines and each statement is an equality on `_id`.

type AnyModel = Model<any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** At most this many of one lookup's queries in flight (the node's pool is 10: lib/db.ts). */
const PARALLEL = 6;

/** Does the server push an equality on a field down to its storage's indexes? Asked once per client. */
const pushesEquality = new WeakMap<object, boolean>();

/**
 * MongoDB: no (it needs no per-key queries: `$in` is served by the index). FerretDB on PostgreSQL:
 * yes. FerretDB on SQLite: no (it pushes down only `_id`, and even that reads the whole table), so
 * there one `$in` (one scan) beats one scan per key. FerretDB's `explain` says whether a filter was
 * pushed down, but only for a collection that exists: until then the answer is not kept.
 */
async function perKeyQueries(model: AnyModel): Promise<boolean> {
	const client = mongoose.connection.getClient();
	const known = pushesEquality.get(client);
	if (known !== undefined) return known;
	const db = mongoose.connection.db!;
	try {
		const info = await db.admin().command({ buildInfo: 1 });
		if (typeof info.ferretdbVersion !== "string") {
			pushesEquality.set(client, false);
			return false;
		}
		if (!(await db.listCollections({ name: model.collection.collectionName }, { nameOnly: true }).hasNext())) return false;
		const plan = await db.command({ explain: { find: model.collection.collectionName, filter: { mktxProbe: 1 } } });
		pushesEquality.set(client, plan.filterPushdown === true);
		return plan.filterPushdown === true;
	} catch {
		return false; // ask again next time
	}
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
	const out: R[] = new Array(items.length);
	let next = 0;
	const worker = async () => {
		while (next < items.length) {
			const i = next++;
			out[i] = await fn(items[i]);
		}
	};
	await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
	return out;
}

/**
 * The documents matching `filter` whose `field` is one of `values` (lean), served by an index
 * whose prefix is `filter`'s fields then `field` (or `field` alone).
 */
export async function findIn<T>(
	model: AnyModel,
	filter: Record<string, unknown>,
	field: string,
	values: readonly unknown[],
	projection?: Record<string, 0 | 1>
): Promise<T[]> {
	const keys = [...new Set(values)];
	if (!keys.length) return [];
	if (keys.length === 1 || (await perKeyQueries(model))) {
		const found = await mapLimit(keys, PARALLEL, key => model.find({ ...filter, [field]: key }, projection).lean<T[]>());
		return found.flat();
	}
	return model.find({ ...filter, [field]: { $in: keys } }, projection).lean<T[]>();
}

/**
 * The same update applied to each document of `ids`: bulkWrites of one-id updates, a few
 * statements per command (lib/bulk-updates.ts: FerretDB holds a connection per statement).
 */
export async function updateEach(model: AnyModel, ids: readonly string[], update: Record<string, unknown>): Promise<void> {
	if (!ids.length) return;
	await bulkWriteInChunks(
		model,
		[...new Set(ids)].map(_id => ({ updateOne: { filter: { _id }, update } }))
	);
}

/** Deletes the documents of `ids`, in one command (a bulkWrite of one-id deletes). */
export async function deleteEach(model: AnyModel, ids: readonly string[]): Promise<void> {
	if (!ids.length) return;
	await model.bulkWrite(
		[...new Set(ids)].map(_id => ({ deleteOne: { filter: { _id } } })),
		{ ordered: false }
	);
}
