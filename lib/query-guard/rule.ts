// The rule the query guard enforces, as pure functions: is a filter (and, when a limit applies,
// its sort) served by one of a collection's declared indexes, the way MongoDB's planner would
// serve it without a collection scan or an in-memory sort? See docs/indexes.md.

export type Direction = 1 | -1;
export type KeyPattern = [field: string, direction: Direction][];

export interface DeclaredIndex {
	name: string;
	key: KeyPattern;
}

/** What bounds an index scan on a field: a point (or a few: $in), or a range. */
type Bound = "eq" | "range";

interface Conjunction {
	fields: Map<string, Bound>;
	/** Each `$or` is a list of branches; one `$or` whose branches are all served is enough. */
	ors: Conjunction[][];
}

export interface Query {
	filter: Record<string, unknown>;
	sort?: KeyPattern;
	/** A limit applies (find with limit, findOne, findAndModify, $sort+$limit): the sort must come from the index. */
	limited: boolean;
}

export type Verdict = { served: true; index: string } | { served: false; why: string };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
	typeof v === "object" &&
	v !== null &&
	!Array.isArray(v) &&
	(Object.getPrototypeOf(v) === Object.prototype || Object.getPrototypeOf(v) === null);

function regexParts(v: unknown): { pattern: string; flags: string } | null {
	if (v instanceof RegExp) return { pattern: v.source, flags: v.flags };
	if (typeof v === "object" && v !== null && (v as { _bsontype?: string })._bsontype === "BSONRegExp") {
		const r = v as { pattern: string; options: string };
		return { pattern: r.pattern, flags: r.options ?? "" };
	}
	return null;
}

/** `^abc…` without `i` or `m` gives an index range; anything else reads every key. */
export function isPrefixRegex(pattern: string, flags = ""): boolean {
	if (/[im]/.test(flags)) return false;
	const body = pattern.startsWith("^") ? pattern.slice(1) : pattern.startsWith("\\A") ? pattern.slice(2) : null;
	if (body === null || body.length === 0) return false;
	if (body[0] === "\\") return body.length > 1 && /[.*+?^${}()|[\]\\/-]/.test(body[1]);
	return !/[.*+?^${}()|[\]]/.test(body[0]);
}

/** How a field's predicate bounds an index scan, or null when it cannot ($ne, $nin, $not, $exists…). */
function boundOf(value: unknown): Bound | null {
	const regex = regexParts(value);
	if (regex) return isPrefixRegex(regex.pattern, regex.flags) ? "range" : null;
	if (!isPlainObject(value)) return "eq"; // a scalar, a Date, an ObjectId, an array: equality
	const ops = Object.keys(value);
	if (!ops.some(op => op.startsWith("$"))) return "eq"; // a whole embedded document
	let best: Bound | null = null;
	for (const op of ops) {
		const arg = value[op];
		let bound: Bound | null = null;
		if (op === "$eq") bound = "eq";
		else if (op === "$in" || op === "$all") bound = Array.isArray(arg) && arg.every(a => !regexParts(a)) ? "eq" : null;
		else if (op === "$gt" || op === "$gte" || op === "$lt" || op === "$lte") bound = "range";
		else if (op === "$regex")
			bound = isPrefixRegex(regexParts(arg)?.pattern ?? String(arg), regexParts(arg)?.flags ?? String(value.$options ?? ""))
				? "range"
				: null;
		else if (op === "$elemMatch" && isPlainObject(arg)) bound = boundOf(arg) ? "range" : null;
		// $ne, $nin, $not, $exists, $type, $size, $mod…: no bounds on the index.
		if (bound === "eq") return "eq";
		if (bound) best = bound;
	}
	return best;
}

function tighter(a: Bound | undefined, b: Bound): Bound {
	return a === "eq" || b === "eq" ? "eq" : "range";
}

function conjunctionOf(filter: unknown): Conjunction {
	const conj: Conjunction = { fields: new Map(), ors: [] };
	if (!isPlainObject(filter)) return conj;
	for (const [key, value] of Object.entries(filter)) {
		if (key === "$and" && Array.isArray(value)) {
			for (const part of value.map(conjunctionOf)) {
				for (const [f, b] of part.fields) conj.fields.set(f, tighter(conj.fields.get(f), b));
				conj.ors.push(...part.ors);
			}
		} else if (key === "$or" && Array.isArray(value)) {
			conj.ors.push(value.map(conjunctionOf));
		} else if (!key.startsWith("$")) {
			// ($nor, $expr, $where, $comment: nothing an index scan can be bounded by)
			const bound = boundOf(value);
			if (bound) conj.fields.set(key, tighter(conj.fields.get(key), bound));
			if (isPlainObject(value) && isPlainObject(value.$elemMatch)) {
				for (const [sub, b] of conjunctionOf(value.$elemMatch).fields)
					conj.fields.set(`${key}.${sub}`, tighter(conj.fields.get(`${key}.${sub}`), b));
			}
		}
	}
	return conj;
}

/**
 * The sort comes out of the index when, once the fields pinned by equality are set aside (they
 * are constant in the scan), the sort's fields are the next keys of the index in order, all in
 * the index's direction or all reversed (equality, then sort, then range).
 */
export function sortFromIndex(key: KeyPattern, fields: Map<string, Bound>, sort: KeyPattern): boolean {
	const rest = key.filter(([f]) => fields.get(f) !== "eq");
	const wanted = sort.filter(([f]) => fields.get(f) !== "eq");
	if (wanted.length > rest.length) return false;
	let flip = 0;
	for (let i = 0; i < wanted.length; i++) {
		if (rest[i][0] !== wanted[i][0]) return false;
		const s = rest[i][1] * wanted[i][1];
		if (flip === 0) flip = s;
		else if (s !== flip) return false;
	}
	return true;
}

function servedByFields(fields: Map<string, Bound>, query: Query, indexes: DeclaredIndex[]): DeclaredIndex | null {
	for (const index of indexes) {
		if (!fields.has(index.key[0][0])) continue;
		if (query.limited && query.sort?.length && !sortFromIndex(index.key, fields, query.sort)) continue;
		return index;
	}
	return null;
}

function servedConj(conj: Conjunction, query: Query, indexes: DeclaredIndex[]): string | null {
	const direct = servedByFields(conj.fields, query, indexes);
	if (direct) return direct.name;
	// MongoDB serves an $or by one index scan per branch (the outer predicates join each branch).
	for (const branches of conj.ors) {
		const names: string[] = [];
		for (const branch of branches) {
			const fields = new Map(conj.fields);
			for (const [f, b] of branch.fields) fields.set(f, tighter(fields.get(f), b));
			const name = servedConj({ fields, ors: [...branch.ors, ...conj.ors.filter(o => o !== branches)] }, query, indexes);
			if (!name) break;
			names.push(name);
		}
		if (branches.length > 0 && names.length === branches.length) return `$or(${[...new Set(names)].join(", ")})`;
	}
	return null;
}

function describe(conj: Conjunction): string {
	const parts = [...conj.fields].map(([f, b]) => `${f}:${b}`);
	for (const branches of conj.ors) parts.push(`$or[${branches.map(describe).join(" | ")}]`);
	return parts.length ? parts.join(", ") : "nothing";
}

const keyText = (key: KeyPattern) => `{${key.map(([f, d]) => `${f}:${d}`).join(",")}}`;

/** Is `query` served by one of `indexes`? (`_id` is the caller's to include.) */
export function verdict(query: Query, indexes: DeclaredIndex[]): Verdict {
	const conj = conjunctionOf(query.filter);
	const name = servedConj(conj, query, indexes);
	if (name) return { served: true, index: name };
	const empty = conj.fields.size === 0 && conj.ors.length === 0;
	if (empty && query.limited && query.sort?.length) {
		// A top-N read in an index's order: an index scan that stops at the limit.
		const index = indexes.find(i => sortFromIndex(i.key, conj.fields, query.sort!) && i.key[0][0] === query.sort![0][0]);
		if (index) return { served: true, index: index.name };
	}
	if (empty && Object.keys(query.filter ?? {}).length === 0) return { served: false, why: "empty filter: reads the whole collection" };
	const leadServed = servedConj(conj, { ...query, limited: false }, indexes);
	if (leadServed && query.sort) {
		return {
			served: false,
			why: `sort ${keyText(query.sort)} with a limit is not in the order of an index that serves the filter (${describe(conj)}): an in-memory sort`,
		};
	}
	return { served: false, why: `no declared index leads with a field the filter bounds (bounded: ${describe(conj)})` };
}

/** The filter with its values replaced by their kinds: what a violation is known by. */
export function shapeOf(value: unknown): unknown {
	if (regexParts(value)) return "<regex>";
	if (Array.isArray(value)) return value.length ? [shapeOf(value[0])] : [];
	if (value instanceof Date) return "<date>";
	if (value === null) return null;
	if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v)]));
	if (typeof value === "object") return `<${(value as { _bsontype?: string })._bsontype ?? "object"}>`;
	return `<${typeof value}>`;
}

/** A sort as the driver sends it ({a: 1, b: "desc"}) in key-pattern form. */
export function keyPatternOf(sort: unknown): KeyPattern | undefined {
	if (!sort || typeof sort !== "object") return undefined;
	const entries = sort instanceof Map ? [...sort.entries()] : Object.entries(sort);
	const key = entries
		.filter(([, d]) => typeof d === "number" || typeof d === "string")
		.map(([f, d]) => [String(f), d === -1 || d === "desc" || d === "descending" ? -1 : 1] as [string, Direction]);
	return key.length ? key : undefined;
}
