import { ConfigError } from "./config.ts";
import { DB_MAX_POOL_SIZE } from "./db.ts";
import { PgClient, PgError, redactPgUrl, sqlIdent, sqlLiteral } from "./pg.ts";

// The PostgreSQL side of the embedded FerretDB: its database, its connection pool.

/**
 * FerretDB's PostgreSQL pool (`pool_max_conns`). An update there reads the matching rows on one
 * connection and, still holding it, writes on a second one; once every pooled connection is held
 * by an update waiting for its second, nothing moves again (its default of 50 hangs for good
 * under 50 concurrent updates of one document). The pool must stay above every operation its
 * clients can send at once: this node's driver pool (DB_MAX_POOL_SIZE in lib/db.ts), as much
 * again for a second client beside it (`npm run analytics:rebuild` while `npm start` runs, a test
 * helper's connection), and FerretDB's own metadata queries.
 */
export const FERRETDB_PG_POOL_MAX_CONNS = 2 * DB_MAX_POOL_SIZE + 5;

/** The URL handed to FerretDB: the configured one with the project's pool size. */
export function ferretdbPostgresqlUrl(url: string): string {
	const u = new URL(url);
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

export { redactPgUrl };
