import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import mongoose from "mongoose";
import { config } from "../../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { dropPgDatabase, ensureFilterIndexes, withDatabase } from "../../lib/ferretdb-pg.ts";
import { freePort } from "../../lib/net.ts";
import { pgQuery } from "../../lib/pg.ts";
import { progress, timeRuns } from "../measure.ts";

// The embedded engine's hot filters at 20k documents (scale 5: 100k), on every engine in one run:
// SQLite; PostgreSQL with FerretDB's own btree indexes; + a whole-document GIN; + GIN indexes on
// the filtered fields (generic plans allowed); + custom plans forced (what lib/ferretdb-pg.ts
// does). ratio = SQLite's time over the shipped set-up's, for the list (higher is better).
// It starts its own FerretDBs (the run's database is not used); docs/embedded-engine.md has a run.

const MERCHANTS = 20;
const ACCOUNTS_PER_MERCHANT = 2;

function docs(n: number) {
	const t0 = Date.UTC(2026, 0, 1);
	return Array.from({ length: n }, (_, i) => {
		const m = i % MERCHANTS;
		const status = i % 100 === 0 ? "pending" : i % 3 === 0 ? "closed" : "open";
		return {
			_id: `c-${i}`,
			merchantId: `m-${m}`,
			accountId: `a-${m}-${i % ACCOUNTS_PER_MERCHANT}`,
			twitterUserId: `tw-${i}`,
			contactId: `ct-${i}`,
			status,
			openKey: status === "closed" ? `closed:c-${i}` : `open:ct-${i}`,
			tags: i % 7 === 0 ? ["vip"] : ["customer"],
			lastMessageAt: new Date(t0 + i * 60_000),
			text: `Xin chào, tin nhắn số ${i}`,
		};
	});
}

type Doc = ReturnType<typeof docs>[number];

/** The declared indexes of conversations and contacts, as models/ declares them. */
async function declareIndexes(coll: mongoose.mongo.Collection<Doc>) {
	await coll.createIndex({ openKey: 1 }, { unique: true });
	await coll.createIndex({ merchantId: 1, status: 1, lastMessageAt: -1 });
	await coll.createIndex({ merchantId: 1, lastMessageAt: -1 });
	await coll.createIndex({ accountId: 1, twitterUserId: 1 }, { unique: true });
	await coll.createIndex({ merchantId: 1, tags: 1 });
}

function queries(coll: mongoose.mongo.Collection<Doc>, n: number) {
	let i = 0;
	const next = () => (i = (i + 7919) % n);
	return {
		_id: () => coll.findOne({ _id: `c-${next()}` }),
		"list merchant (sort, 20)": () =>
			coll
				.find({ merchantId: `m-${next() % MERCHANTS}` })
				.sort({ lastMessageAt: -1 })
				.limit(20)
				.toArray(),
		"count merchant+status": () => coll.countDocuments({ merchantId: `m-${next() % MERCHANTS}`, status: "open" }),
		"accountId+twitterUserId": () => {
			const k = next();
			return coll.findOne({ accountId: `a-${k % MERCHANTS}-${k % ACCOUNTS_PER_MERCHANT}`, twitterUserId: `tw-${k}` });
		},
		openKey: () => {
			const k = next();
			return coll.findOne({ openKey: k % 3 === 0 ? `closed:c-${k}` : `open:ct-${k}` });
		},
		"status pending": () => coll.find({ status: "pending" }).limit(50).toArray(),
		"merchant+tag": () => coll.countDocuments({ merchantId: `m-${next() % MERCHANTS}`, tags: "vip" }),
	};
}

type Figures = Record<string, number>;

async function measure(label: string, url: string, n: number, runs: number, warmup = 6): Promise<Figures> {
	const conn = await mongoose.createConnection(url, { maxPoolSize: 20, retryWrites: false }).asPromise();
	try {
		const figures: Figures = {};
		for (const [name, q] of Object.entries(queries(conn.db!.collection<Doc>("conversations"), n))) {
			// On PostgreSQL, six warm-up runs first: it may switch a prepared statement to a generic plan after five.
			figures[name] = (await timeRuns(q, runs, warmup)).p50ms;
		}
		progress(`embedded-engine: ${label}: ${JSON.stringify(figures)}`);
		return figures;
	} finally {
		await conn.close();
	}
}

async function load(url: string, n: number): Promise<number> {
	const conn = await mongoose.createConnection(url, { maxPoolSize: 20, retryWrites: false }).asPromise();
	try {
		const coll = conn.db!.collection<Doc>("conversations");
		await declareIndexes(coll);
		const all = docs(n);
		const t0 = performance.now();
		for (let at = 0; at < all.length; at += 1000) await coll.insertMany(all.slice(at, at + 1000), { ordered: false });
		return Math.round(performance.now() - t0);
	} finally {
		await conn.close();
	}
}

/** Milliseconds for 200 single inserts: what the extra indexes cost writers. */
async function insertCost(url: string, from: number): Promise<number> {
	const conn = await mongoose.createConnection(url, { maxPoolSize: 20, retryWrites: false }).asPromise();
	try {
		const coll = conn.db!.collection<Doc>("conversations");
		const extra = docs(from + 200)
			.slice(from)
			.map(d => ({ ...d, _id: `${d._id}-x`, twitterUserId: `${d.twitterUserId}-x`, openKey: `${d.openKey}-x` }));
		const t0 = performance.now();
		for (const d of extra) await coll.insertOne(d);
		return Math.round(performance.now() - t0);
	} finally {
		await conn.close();
	}
}

export async function run({ scale = 1 }: { scale?: number }) {
	const n = Math.max(1000, Math.round(20_000 * scale));
	const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-bench-engine-"));
	const pgUrl = withDatabase(config().ferretdb.postgresqlUrl, `mktx_bench_engine_${process.pid}`);
	const started: RunningFerretDb[] = [];
	const start = async (handler: "sqlite" | "postgresql", postgresqlUrl = pgUrl) => {
		const f = await startFerretDb({ port: await freePort(), dataDir, handler, postgresqlUrl, log: progress });
		started.push(f);
		return f;
	};
	try {
		progress(`embedded-engine: ${n} documents, ${MERCHANTS} merchants`);
		const sqlite = await start("sqlite");
		const sqliteLoadMs = await load(`${sqlite.url}bench`, n);
		// SQLite reads every row for every query: fewer runs, or 100k documents take a quarter of an hour.
		const sqliteFig =
			n > 20_000 ? await measure("SQLite", `${sqlite.url}bench`, n, 1, 0) : await measure("SQLite", `${sqlite.url}bench`, n, 3, 1);

		// Generic plans allowed: FerretDB's URL with plan_cache_mode=auto (the server's default).
		const pgAuto = await start("postgresql", `${pgUrl}?plan_cache_mode=auto`);
		const pgLoadMs = await load(`${pgAuto.url}bench`, n);
		await pgQuery(pgUrl, "VACUUM ANALYZE");
		const table = (
			await pgQuery(pgUrl, `SELECT _jsonb->>'table' FROM bench._ferretdb_database_metadata WHERE _jsonb->>'_id' = 'conversations'`)
		)[0]![0]!;
		const btree = await measure("PostgreSQL, FerretDB's btree indexes", `${pgAuto.url}bench`, n, 10);
		const insertBtreeMs = await insertCost(`${pgAuto.url}bench`, n);

		await pgQuery(pgUrl, `CREATE INDEX bench_whole_gin ON bench.${table} USING gin (_jsonb jsonb_path_ops); ANALYZE bench.${table}`);
		const wholeGin = await measure("PostgreSQL + GIN on the whole document", `${pgAuto.url}bench`, n, 10);
		await pgQuery(pgUrl, "DROP INDEX bench.bench_whole_gin");

		const t0 = performance.now();
		const { created } = await ensureFilterIndexes(pgUrl, "bench");
		const indexBuildMs = Math.round(performance.now() - t0);
		await pgQuery(pgUrl, `ANALYZE bench.${table}`);
		const fieldGinGeneric = await measure("PostgreSQL + field GIN, generic plans allowed", `${pgAuto.url}bench`, n, 10);
		const insertGinMs = await insertCost(`${pgAuto.url}bench`, n + 200);

		// The shipped set-up: lib/ferretdb-pg.ts forces custom plans.
		const pgShipped = await start("postgresql");
		const shipped = await measure("PostgreSQL + field GIN + custom plans (shipped)", `${pgShipped.url}bench`, n, 10);

		const list = "list merchant (sort, 20)";
		return {
			scenario: "embedded-engine",
			ratio: Math.round((sqliteFig[list]! / shipped[list]!) * 10) / 10,
			documents: n,
			candidate: {
				label: "PostgreSQL + field GIN + custom plans",
				p50ms: shipped,
				ginIndexes: created,
				indexBuildMs,
				insert200Ms: insertGinMs,
			},
			baseline: { label: "SQLite", p50ms: sqliteFig, loadMs: sqliteLoadMs },
			others: {
				"PostgreSQL, btree only": { p50ms: btree, loadMs: pgLoadMs, insert200Ms: insertBtreeMs },
				"PostgreSQL + whole-document GIN": { p50ms: wholeGin },
				"PostgreSQL + field GIN, generic plans": { p50ms: fieldGinGeneric },
			},
		};
	} finally {
		for (const f of started) await f.stop();
		await dropPgDatabase(pgUrl).catch(() => {});
		rmSync(dataDir, { recursive: true, force: true });
	}
}
