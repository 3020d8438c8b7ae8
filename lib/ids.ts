import { createHash } from "node:crypto";

/**
 * A UUID derived from a name (SHA-256, RFC 9562 version 8 layout): the same name always gives
 * the same id, so inserting a row with it is an idempotency check on FerretDB and MongoDB alike.
 */
export function uuidFromName(name: string): string {
	const b = createHash("sha256").update(name).digest().subarray(0, 16);
	b[6] = (b[6] & 0x0f) | 0x80;
	b[8] = (b[8] & 0x3f) | 0x80;
	const h = b.toString("hex");
	return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function isDuplicateKey(err: unknown): boolean {
	return typeof err === "object" && err !== null && (err as { code?: unknown }).code === 11000;
}

/** True when every failure of a bulk insert is a duplicate key (the rows were there already). */
export function onlyDuplicates(err: unknown): boolean {
	const e = err as { code?: number; writeErrors?: { code?: number }[] | { code?: number } };
	const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
	return list.length > 0 ? list.every(w => w.code === 11000) : e.code === 11000;
}

/**
 * The `_id`s of the `docs` whose insert (a bulk insert of them, ordered: false) hit a duplicate
 * key, on `_id` or any other unique index; null when it failed for another reason. A write error
 * names its document (`getOperation`), or else its index in `docs`.
 */
export function duplicateIdsOf(err: unknown, docs: readonly { _id?: unknown }[]): Set<unknown> | null {
	if (!onlyDuplicates(err)) return null;
	const e = err as { writeErrors?: WriteErrorLike[] | WriteErrorLike };
	const list = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
	const ids = list.map(w => w.getOperation?.()?._id ?? w.err?.op?._id ?? docs[w.index ?? w.err?.index ?? -1]?._id);
	return ids.length && ids.every(id => id !== undefined) ? new Set(ids) : null;
}

interface WriteErrorLike {
	index?: number;
	getOperation?: () => { _id?: unknown } | undefined;
	err?: { index?: number; op?: { _id?: unknown } };
}
