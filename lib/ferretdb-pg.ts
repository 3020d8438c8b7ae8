import { ConfigError } from "./config.ts";
import { DB_MAX_POOL_SIZE } from "./db.ts";
import { createHash } from "node:crypto";
import { PgClient, PgError, redactPgUrl, sqlIdent, sqlLiteral } from "./pg.ts";

// The PostgreSQL side of the embedded FerretDB: its database, its connection pool.

/**
 * FerretDB's PostgreSQL pool (`pool_max_conns`). An operation there can read on one connection
 * and, still holding it, write on a second; once every pooled connection is held by one waiting
 * for its second, nothing moves again. Measured here: 23 client operations at once hung a pool of
 * 45 for good (46 connections wanted); FerretDB's own default of 50 hangs under 50 concurrent
 * updates of one document. So the pool is twice what its clients can send at once, with room for
 * three clients of a node's size (the node, a tool such as `npm run analytics:rebuild`, a test's or
 * a benchmark's nodes), plus FerretDB's own metadata queries. Idle connections are closed soon,
 * so several FerretDB processes on one PostgreSQL (tests) do not hold its 100 connections idle.
 */
export const FERRETDB_PG_POOL_MAX_CONNS = 2 * 3 * DB_MAX_POOL_SIZE + 10;
const POOL_SETTINGS = { pool_max_conn_idle_time: "15s", pool_health_check_period: "5s" };

/**
 * FerretDB runs every query as a prepared statement whose filter names the field as a parameter
 * (`_jsonb->$1 @> $2`). After five runs PostgreSQL may switch to a generic plan, where the field is
 * unknown and no expression index can match; custom plans keep the filter indexes in use.
 */
const PLAN_SETTINGS = { plan_cache_mode: "force_custom_plan" };

/** The URL handed to FerretDB: the configured one with the project's pool size and plan settings. */
export function ferretdbPostgresqlUrl(url: string): string {
	const u = new URL(url);
	for (const [k, v] of Object.entries({ ...PLAN_SETTINGS, ...POOL_SETTINGS })) if (!u.searchParams.has(k)) u.searchParams.set(k, v);
	const set = u.searchParams.get("pool_max_conns");
	if (set !== null && !(Number(set) > 2 * DB_MAX_POOL_SIZE)) {
		throw new ConfigError(
			`FERRETDB_POSTGRESQL_URL sets pool_max_conns=${set}: it must be above ${2 * DB_MAX_POOL_SIZE} (twice the driver's pool) or FerretDB can deadlock under concurrent updates`
		);
	}
	if (set === null) u.searchParams.set("pool_max_conns", String(FERRETDB_PG_POOL_MAX_CONNS));
	return u.toString();
}

export function withDatabase(url: string, database: string): string {
	const u = new URL(url);
	u.pathname = `/${encodeURIComponent(database)}`;
	u.search = "";
	return u.toString();
}

export function databaseOf(url: string): string {
	return decodeURIComponent(new URL(url).pathname.slice(1));
}

/**
 * Makes sure the URL's database exists (creating it through the `postgres` maintenance database
 * when it does not). Throws a PgError saying why when PostgreSQL does not answer or refuses us.
 */
export async function ensurePgDatabase(url: string): Promise<{ created: boolean }> {
	const plain = withDatabase(url, databaseOf(url));
	try {
		await (await PgClient.connect(plain)).close();
		return { created: false };
	} catch (err) {
		if (!(err instanceof PgError) || err.code !== "3D000") throw err; // 3D000: no such database
	}
	const admin = await PgClient.connect(withDatabase(url, "postgres"));
	try {
		await admin.query(`CREATE DATABASE ${sqlIdent(databaseOf(url))}`);
		return { created: true };
	} catch (err) {
		// Another start created it first.
		if (err instanceof PgError && err.code === "42P04") return { created: false };
		throw err;
	} finally {
		await admin.close();
	}
}

/** Drops the URL's database, closing what is still connected to it (PostgreSQL 13+). */
export async function dropPgDatabase(url: string): Promise<void> {
	const admin = await PgClient.connect(withDatabase(url, "postgres"));
	try {
		await admin.query(`DROP DATABASE IF EXISTS ${sqlIdent(databaseOf(url))} WITH (FORCE)`);
	} finally {
		await admin.close();
	}
}

/** Names of the databases whose name starts with `prefix`. */
export async function listPgDatabases(url: string, prefix: string): Promise<string[]> {
	const admin = await PgClient.connect(withDatabase(url, "postgres"));
	try {
		const rows = await admin.query(`SELECT datname FROM pg_database WHERE starts_with(datname, ${sqlLiteral(prefix)})`);
		return rows.map(r => r[0]!);
	} finally {
		await admin.close();
	}
}

/**
 * FerretDB creates a PostgreSQL btree index for each declared index, but pushes filters down as
 * containment (`_jsonb->'field' @> '"value"'`), which a btree cannot serve: every query reads the
 * whole table. A GIN index (jsonb_path_ops) on the same expression serves it. This creates one
 * per field of the declared indexes of every collection in `schema` (a MongoDB database is a
 * PostgreSQL schema there) that lacks it, `_id` included (a find by `_id` is filtered the same way;
 * only the write that follows uses the `_id` btree). Dotted fields are left out: FerretDB 1.24 does not push
 * their filters down (only with --test-enable-nested-pushdown). Figures: docs/embedded-engine.md.
 */
export async function ensureFilterIndexes(url: string, schema: string): Promise<{ created: number }> {
	const client = await PgClient.connect(url);
	try {
		const meta = `${sqlIdent(schema)}."_ferretdb_database_metadata"`;
		const exists = await client.query(`SELECT to_regclass(${sqlLiteral(`${sqlIdent(schema)}._ferretdb_database_metadata`)}) IS NOT NULL`);
		if (exists[0]?.[0] !== "t") return { created: 0 };
		const fields = await client.query(
			`SELECT DISTINCT m._jsonb->>'table', k.field FROM ${meta} m, jsonb_array_elements(m._jsonb->'indexes') i, jsonb_object_keys(i->'key') k(field) WHERE strpos(k.field, '.') = 0`
		);
		const present = new Set(
			(await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = ${sqlLiteral(schema)}`)).map(r => r[0])
		);
		let created = 0;
		for (const [table, field] of fields as [string, string][]) {
			const name = filterIndexName(table, field);
			if (present.has(name)) continue;
			// The very expression of FerretDB's filter, or the planner cannot match it.
			const expr = `_jsonb -> ${sqlLiteral(field)}::text`;
			await client.query(
				`CREATE INDEX IF NOT EXISTS ${sqlIdent(name)} ON ${sqlIdent(schema)}.${sqlIdent(table)} USING gin ((${expr}) jsonb_path_ops)`
			);
			created++;
		}
		return { created };
	} finally {
		await client.close();
	}
}

/** Unique per table and field, within PostgreSQL's 63 bytes. */
function filterIndexName(table: string, field: string): string {
	const hash = createHash("sha1").update(`${table}\0${field}`).digest("hex").slice(0, 8);
	return `${table.slice(0, 28)}_${field
		.replace(/[^a-z0-9]/gi, "_")
		.toLowerCase()
		.slice(0, 20)}_${hash}_mktx_gin`;
}

export { redactPgUrl };
