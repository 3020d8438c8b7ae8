import { appendFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import mongoose from "mongoose";
import type { CommandStartedEvent, MongoClient } from "mongodb";
import { queriesOf } from "./query-guard/commands.ts";
import { shapeOf, verdict, type DeclaredIndex, type KeyPattern } from "./query-guard/rule.ts";
import { ALLOWED, KNOWN_PENDING, LIBRARY_INDEXES, TINY_COLLECTIONS, type Exception } from "./query-guard/allow.ts";

// MongoDB's `notablescan` discipline, enforced by the tests: every find, count, distinct,
// aggregate, update, delete and findAndModify the code sends is checked, as the driver's command
// monitoring shows it, against the indexes declared in models/ (docs/indexes.md). FerretDB uses
// no secondary index at all; the discipline is for MongoDB in production.

export type QueryGuardMode = "off" | "warn" | "strict";

export interface Violation {
	op: string;
	collection: string;
	shape: string;
	sort?: string;
	why: string;
	/** The first frames of the project's own code that led to the command, innermost first. */
	callers: string[];
	count: number;
}

interface Registry {
	violations: Map<string, Violation>;
	pending: Map<string, Violation>;
	/** Queries sent by test code itself (fixtures, clean-ups) are not the service's: skipped unless set. */
	checkTestCode: boolean;
}

// On globalThis so that a jest test file and the modules it loads see one registry.
const KEY = Symbol.for("mkt-x.query-guard");
export function guardRegistry(): Registry {
	const g = globalThis as unknown as Record<symbol, Registry>;
	g[KEY] ??= { violations: new Map(), pending: new Map(), checkTestCode: false };
	return g[KEY];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SKIPPED_DATABASES = new Set(["admin", "config", "local"]);

let cached: { models: number; indexes: Map<string, DeclaredIndex[]> } | null = null;

/** Every collection's declared indexes: the mongoose models' schemas, `_id`, and those of libraries. */
export function declaredIndexes(): Map<string, DeclaredIndex[]> {
	// Models only ever get added (on import): their count says whether the map is current.
	const models = mongoose.modelNames().length;
	if (cached?.models !== models) cached = { models, indexes: readIndexes() };
	return cached.indexes;
}

function readIndexes(): Map<string, DeclaredIndex[]> {
	const byCollection = new Map<string, DeclaredIndex[]>();
	const add = (collection: string, index: DeclaredIndex) => {
		if (!byCollection.has(collection)) byCollection.set(collection, [{ name: "_id_", key: [["_id", 1]] }]);
		byCollection.get(collection)!.push(index);
	};
	for (const name of mongoose.modelNames()) {
		const model = mongoose.model(name);
		for (const [fields, options] of model.schema.indexes()) {
			if ((options as { partialFilterExpression?: unknown })?.partialFilterExpression) continue; // serves only queries that repeat its filter
			const key = Object.entries(fields).map(([f, d]) => [f, d === -1 || d === "desc" ? -1 : 1]) as KeyPattern;
			add(model.collection.collectionName, {
				name: (options as { name?: string })?.name ?? key.map(([f, d]) => `${f}_${d}`).join("_"),
				key,
			});
		}
		if (!byCollection.has(model.collection.collectionName))
			byCollection.set(model.collection.collectionName, [{ name: "_id_", key: [["_id", 1]] }]);
	}
	for (const [collection, keys] of Object.entries(LIBRARY_INDEXES)) {
		for (const key of keys) add(collection, { name: `${collection}:library`, key });
	}
	return byCollection;
}

function projectCallers(): string[] {
	const limit = Error.stackTraceLimit;
	Error.stackTraceLimit = 80;
	const stack = new Error().stack ?? "";
	Error.stackTraceLimit = limit;
	const callers: string[] = [];
	for (const line of stack.split("\n").slice(1)) {
		const m = /\(?((?:file:\/\/)?[^\s()]+?):(\d+):\d+\)?\s*$/.exec(line.trim());
		if (!m) continue;
		const file = m[1].startsWith("file://") ? fileURLToPath(m[1]) : m[1];
		if (!path.isAbsolute(file)) continue; // node:internal frames
		const rel = path.relative(ROOT, file);
		if (
			rel.startsWith("..") ||
			path.isAbsolute(rel) ||
			rel.includes("node_modules") ||
			rel.startsWith("lib/query-guard") ||
			rel === "lib/db.ts"
		)
			continue;
		callers.push(`${rel}:${m[2]}`);
		if (callers.length === 3) break;
	}
	return callers;
}

const matches = (e: Exception, q: { collection: string; op: string }, shape: string, file?: string) =>
	e.collection === q.collection && e.op === q.op && e.shape === shape && (e.file === undefined || e.file === file);

/** The violations of one command (pure but for the registry): what `commandStarted` runs. */
export function checkCommand(commandName: string, command: Record<string, unknown>, indexes = declaredIndexes()): Violation[] {
	const found: Violation[] = [];
	for (const use of queriesOf(commandName, command)) {
		if (use.skip || use.collection.startsWith("system.") || TINY_COLLECTIONS[use.collection]) continue;
		const declared = indexes.get(use.collection);
		let why: string | null = null;
		if (!declared) why = `collection "${use.collection}" has no model in models/ and no library indexes (query-guard/allow.ts)`;
		else if (use.unfiltered) why = use.unfiltered;
		else if (use.key && Object.keys(use.filter).length === 0 && declared.some(i => i.key[0][0] === use.key))
			continue; // a distinct scan of the index
		else {
			const v = verdict(use, declared);
			if (!v.served) why = v.why;
		}
		if (!why) continue;
		const shape = JSON.stringify(shapeOf(use.filter));
		if (ALLOWED.some(e => matches(e, use, shape))) continue;
		const sort = use.sort ? JSON.stringify(Object.fromEntries(use.sort)) : undefined;
		found.push({ op: use.op, collection: use.collection, shape, sort, why, callers: [], count: 1 });
	}
	return found;
}

function record(found: Violation[], mode: QueryGuardMode, logFile: string | null): void {
	if (!found.length) return;
	const callers = projectCallers();
	const registry = guardRegistry();
	if (callers[0]?.startsWith("test/") && !registry.checkTestCode) return;
	for (const v of found) {
		v.callers = callers;
		const file = callers[0]?.replace(/:\d+$/, "");
		const pending = KNOWN_PENDING.some(e => matches(e, v, v.shape, file));
		const map = pending ? registry.pending : registry.violations;
		const key = [v.op, v.collection, v.shape, v.sort ?? "", callers[0] ?? "?"].join("|");
		const seen = map.get(key);
		if (seen) {
			seen.count++;
			continue;
		}
		map.set(key, v);
		if (logFile) appendFileSync(logFile, JSON.stringify({ pending, ...v }) + "\n");
		if (mode === "warn" && !pending) console.warn(`query guard: ${formatViolation(v)}`);
	}
}

export function formatViolation(v: Violation): string {
	return `${v.op} ${v.collection} ${v.shape}${v.sort ? ` sort ${v.sort}` : ""}: ${v.why}\n    at ${v.callers.join("\n    at ") || "(no caller of this project on the stack)"}`;
}

const guarded = new WeakSet<object>();

/**
 * Checks every command of `client` from now on. The client must have been created with
 * `monitorCommands: true` (lib/db.ts does when QUERY_GUARD is not off).
 */
export async function installQueryGuard(client: MongoClient, mode: QueryGuardMode, logFile: string | null = null): Promise<void> {
	if (mode === "off" || guarded.has(client)) return;
	guarded.add(client);
	// Every model, not only those this node's services import: a service may read another's
	// collection through the raw driver, and its indexes are still the ones declared in models/.
	const dir = path.join(ROOT, "models");
	for (const file of readdirSync(dir).filter(f => f.endsWith(".model.ts"))) await import(path.join(dir, file));
	client.on("commandStarted", (event: CommandStartedEvent) => {
		if (SKIPPED_DATABASES.has(event.databaseName)) return;
		record(checkCommand(event.commandName, event.command as Record<string, unknown>), mode, logFile);
	});
}
