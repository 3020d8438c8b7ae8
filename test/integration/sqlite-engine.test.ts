import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { resetConfig } from "../../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { ensureSqliteIdIndexes } from "../../lib/ferretdb-sqlite.ts";
import mongoose from "mongoose";
import { DatabaseSync } from "node:sqlite";
import { freePort } from "../../lib/net.ts";
import { client, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";

// The run's FerretDB is on PostgreSQL; the SQLite handler stays the fallback (no PostgreSQL, or
// FERRETDB_HANDLER=sqlite), so this one smoke suite keeps it working: the gateway and a service
// on a FerretDB of its own with SQLite files in a throw-away folder.

const dbName = useFreshDatabase("sqlite_engine");
const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-sqlite-smoke-"));
let ferret: RunningFerretDb;
let node: TestNode;

beforeAll(async () => {
	ferret = await startFerretDb({ port: await freePort(), dataDir, handler: "sqlite", log: () => {} });
	process.env.MONGO_URL = `${ferret.url}${dbName}`;
	resetConfig();
	node = await startNode({ services: ["api", "templates"] });
});
afterAll(async () => {
	await node?.stop();
	await ferret?.stop();
	rmSync(dataDir, { recursive: true, force: true });
});

describe("embedded FerretDB on SQLite", () => {
	test("runs on SQLite files when asked to, and serves a create, a list and a get through the gateway", async () => {
		expect(ferret.handler).toBe("sqlite");
		const api = client(node.url, tokenFor("merchant-sqlite"));
		const created = await api.post("/templates", { name: "Chào mừng", content: "Xin chào {{name}}" });
		expect(created.status).toBe(200);
		const id = created.body.data.id;
		const list = await api.get("/templates");
		expect(list.status).toBe(200);
		expect(list.body.data.map((t: { id: string }) => t.id)).toEqual([id]);
		const got = await api.get(`/templates/${id}`);
		expect(got.body.data).toMatchObject({ id, name: "Chào mừng", content: "Xin chào {{name}}" });
		expect(await client(node.url, tokenFor("merchant-other")).get(`/templates/${id}`)).toMatchObject({ status: 404 });
		// The documents are in this suite's SQLite file, not on the run's PostgreSQL.
		expect(readdirSync(path.join(dataDir, "ferretdb"))).toContain(`${dbName}.sqlite`);
	});

	test("lookups by _id use the index ensureSqliteIdIndexes adds on FerretDB's own expression, and answers stay the same", async () => {
		const api = client(node.url, tokenFor("merchant-sqlite-index"));
		const created = await api.post("/templates", { name: "Chỉ mục", content: "Xin chào" });
		expect(created.status).toBe(200);
		const id = created.body.data.id;
		// A find by _id alone is the one filter FerretDB pushes down to SQLite; without the index it scans.
		const explained = await mongoose.connection.db!.command({ explain: { find: "templates", filter: { _id: id } } });
		expect(explained.filterPushdown).toBe(true);
		expect((explained.queryPlanner as { Plan: string[] }).Plan.join("\n")).toMatch(/SCAN templates_/);
		const sqliteDir = ferret.sqliteDir!;
		expect(ensureSqliteIdIndexes(sqliteDir, dbName).created).toBeGreaterThan(0);
		expect(ensureSqliteIdIndexes(sqliteDir, dbName).created).toBe(0);
		// FerretDB's statements (backends/sqlite/collection.go), as SQLite plans them now. (Asked of
		// the file here: FerretDB's explain may run on a pooled connection that has not yet read
		// the new schema, which every real statement does first.)
		const db = new DatabaseSync(path.join(sqliteDir, `${dbName}.sqlite`), { readOnly: true });
		try {
			const { table_name: table } = db.prepare("SELECT table_name FROM _ferretdb_collections WHERE name = 'templates'").get() as {
				table_name: string;
			};
			const planOf = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map(r => r.detail).join("\n");
			const byId = `_ferretdb_sjson->'$._id'`;
			for (const sql of [
				`SELECT _ferretdb_sjson FROM "${table}" WHERE ${byId} = ?`,
				`UPDATE "${table}" SET _ferretdb_sjson = ? WHERE ${byId} = ?`,
				`DELETE FROM "${table}" WHERE ${byId} IN (?, ?)`,
			])
				expect(planOf(sql)).toMatch(new RegExp(`SEARCH ${table} USING INDEX ${table}_mktx_id`));
		} finally {
			db.close();
		}
		// Reads, updates and deletes by _id go through it and still find their document.
		expect((await api.get(`/templates/${id}`)).body.data).toMatchObject({ id, name: "Chỉ mục" });
		expect((await api.put(`/templates/${id}`, { content: "Xin chào lần nữa" })).status).toBe(200);
		expect((await api.get(`/templates/${id}`)).body.data).toMatchObject({ id, content: "Xin chào lần nữa" });
		expect((await api.del(`/templates/${id}`)).status).toBeLessThan(300);
		expect(await api.get(`/templates/${id}`)).toMatchObject({ status: 404 });
		// A database with nothing stored yet has no file: nothing to do.
		expect(ensureSqliteIdIndexes(sqliteDir, "no_such_database").created).toBe(0);
	});
});
