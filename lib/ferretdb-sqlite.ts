import { existsSync } from "node:fs";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

// FerretDB 1.24 on SQLite: one file per MongoDB database (`<dir>/<db>.sqlite`), one table per
// collection with the document as JSON text in `_ferretdb_sjson`. The only filter it pushes down
// to SQL is `{_id: <string or ObjectId>}` alone, written `_ferretdb_sjson->'$._id' = ?`
// (`backends/sqlite/collection.go`), and so are the writes that follow any update or delete
// (`UPDATE … WHERE _ferretdb_sjson->'$._id' = ?`, `DELETE … WHERE _ferretdb_sjson->'$._id' IN (…)`).
// Its own `_id` index is on `_ferretdb_sjson->"_id"`: the same value, another expression, and
// SQLite uses an expression index only for the very expression it was built on. So every read,
// update and delete by `_id` parses the JSON of every row of the table, the updates and deletes
// while they hold the database's one write lock; a growing table (raw webhook deliveries,
// messages) makes each event's writes slower and everyone else's wait longer. An index on
// FerretDB's own expression turns each into an index lookup. Figures: docs/embedded-engine.md.

const METADATA_TABLE = "_ferretdb_collections";

function sqlIdent(name: string): string {
	return `"${name.replaceAll('"', '""')}"`;
}

/** The index this module adds to `table`. */
export function idIndexName(table: string): string {
	return `${table}_mktx_id`;
}

/**
 * Creates, in the SQLite file of database `dbName` under `dir` (FerretDB's `--sqlite-url`
 * folder), an index on `_ferretdb_sjson->'$._id'` for every collection that lacks one. FerretDB
 * keeps running meanwhile (SQLite locks the file; the creation waits for its write lock) and
 * knows nothing of these indexes: they are not declared indexes (`listIndexes` does not show
 * them) and go with their table when a collection is dropped. Collections created later get
 * theirs at the next call. No file yet (nothing stored): nothing to do.
 */
export function ensureSqliteIdIndexes(dir: string, dbName: string): { created: number } {
	const file = path.join(dir, `${dbName}.sqlite`);
	if (!existsSync(file)) return { created: 0 };
	const db = new DatabaseSync(file);
	try {
		db.exec("PRAGMA busy_timeout = 10000");
		const hasMetadata = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(METADATA_TABLE);
		if (!hasMetadata) return { created: 0 };
		const tables = (db.prepare(`SELECT table_name FROM ${sqlIdent(METADATA_TABLE)}`).all() as { table_name: string }[]).map(
			r => r.table_name
		);
		const present = new Set(
			(db.prepare("SELECT name FROM sqlite_master WHERE type = 'index'").all() as { name: string }[]).map(r => r.name)
		);
		let created = 0;
		for (const table of tables) {
			const name = idIndexName(table);
			if (present.has(name)) continue;
			try {
				// The very expression of FerretDB's statements, or the planner cannot match it.
				db.exec(`CREATE INDEX IF NOT EXISTS ${sqlIdent(name)} ON ${sqlIdent(table)} (_ferretdb_sjson->'$._id')`);
				created++;
			} catch (err) {
				// Dropped since it was listed: nothing to index.
				if (!/no such table/i.test((err as Error).message)) throw err;
			}
		}
		return { created };
	} finally {
		db.close();
	}
}
