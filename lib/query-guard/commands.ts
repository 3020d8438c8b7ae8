import { keyPatternOf, type Query } from "./rule.ts";

// The queries inside one database command, as the driver's command monitoring shows it.

export interface QueryUse extends Query {
	/** find, count, distinct, aggregate, update, delete, findAndModify (or "aggregate $lookup"). */
	op: string;
	collection: string;
	/** Set when the command reads nothing but counts the collection (a metadata count): nothing to check. */
	skip?: boolean;
	/** An aggregate that does not start with $match reads every document. */
	unfiltered?: string;
	/** distinct: the field whose values are asked for. */
	key?: string;
}

const asObject = (v: unknown): Record<string, unknown> =>
	v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

function fromAggregate(collection: string, pipeline: Record<string, unknown>[]): QueryUse[] {
	const uses: QueryUse[] = [];
	const [first, second, third] = pipeline;
	if (first && "$match" in first) {
		const sort = second && "$sort" in second ? keyPatternOf(second.$sort) : undefined;
		uses.push({ op: "aggregate", collection, filter: asObject(first.$match), sort, limited: !!sort && !!third && "$limit" in third });
	} else if (first && "$sort" in first) {
		uses.push({ op: "aggregate", collection, filter: {}, sort: keyPatternOf(first.$sort), limited: !!second && "$limit" in second });
	} else {
		const stage = first ? Object.keys(first)[0] : "(empty pipeline)";
		uses.push({ op: "aggregate", collection, filter: {}, limited: false, unfiltered: `pipeline starts with ${stage}, not $match` });
	}
	for (const stage of pipeline) {
		const lookup = asObject(stage.$lookup);
		if (typeof lookup.from !== "string") continue;
		// Each input document looks up its matches in `from` by foreignField: that needs an index too.
		if (typeof lookup.foreignField === "string") {
			uses.push({ op: "aggregate $lookup", collection: lookup.from, filter: { [lookup.foreignField]: "<each>" }, limited: false });
		} else {
			uses.push({
				op: "aggregate $lookup",
				collection: lookup.from,
				filter: {},
				limited: false,
				unfiltered: "$lookup with a pipeline and no foreignField",
			});
		}
	}
	return uses;
}

/** The queries of a command; none for commands that read no documents by filter (insert, getMore, createIndexes…). */
export function queriesOf(commandName: string, command: Record<string, unknown>): QueryUse[] {
	const target = command[commandName];
	if (typeof target !== "string") return []; // db-level commands (aggregate: 1) and the like
	const collection = target;
	switch (commandName) {
		case "find":
			return [
				{
					op: "find",
					collection,
					filter: asObject(command.filter),
					sort: keyPatternOf(command.sort),
					limited: Number(command.limit ?? 0) > 0,
				},
			];
		case "count": {
			const filter = asObject(command.query);
			return [{ op: "count", collection, filter, limited: false, skip: Object.keys(filter).length === 0 }];
		}
		case "distinct":
			return [{ op: "distinct", collection, filter: asObject(command.query), limited: false, key: String(command.key) }];
		case "aggregate":
			return fromAggregate(collection, Array.isArray(command.pipeline) ? (command.pipeline as Record<string, unknown>[]) : []);
		case "findAndModify":
			return [{ op: "findAndModify", collection, filter: asObject(command.query), sort: keyPatternOf(command.sort), limited: true }];
		case "update":
			return (Array.isArray(command.updates) ? command.updates : []).map((u: Record<string, unknown>) => ({
				op: u.multi ? "updateMany" : "updateOne",
				collection,
				filter: asObject(u.q),
				sort: keyPatternOf(u.sort),
				limited: !u.multi,
			}));
		case "delete":
			return (Array.isArray(command.deletes) ? command.deletes : []).map((d: Record<string, unknown>) => ({
				op: d.limit === 1 ? "deleteOne" : "deleteMany",
				collection,
				filter: asObject(d.q),
				limited: d.limit === 1,
			}));
		default:
			return [];
	}
}
