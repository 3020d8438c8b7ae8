import mongoose from "mongoose";
import { config } from "../../lib/config.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { ensureFilterIndexes, ferretdbPostgresqlUrl } from "../../lib/ferretdb-pg.ts";
import { pgQuery } from "../../lib/pg.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";

// The run's embedded FerretDB (test/setup/global-setup.ts) on PostgreSQL: the pool cannot
// deadlock under concurrent updates, and the filter indexes serve FerretDB's pushed-down filters.

const dbName = useFreshDatabase("engine");
const pgUrl = process.env.TEST_FERRETDB_PG_URL;

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await ConversationModel.createIndexes();
});
afterAll(async () => {
	await releaseDb();
	await dropDatabase();
});

describe("embedded FerretDB on PostgreSQL", () => {
	test("the run's FerretDB is on PostgreSQL unless SQLite was chosen", () => {
		expect(process.env.TEST_FERRETDB_HANDLER).toBe(config().ferretdb.handler === "sqlite" ? "sqlite" : "postgresql");
	});

	test("a hundred concurrent updates of one document all finish (FerretDB's pool is above the driver's)", async () => {
		const coll = mongoose.connection.db!.collection<{ _id: string; n: number }>("engine_counters");
		await coll.insertOne({ _id: "one", n: 0 });
		const results = await Promise.all(Array.from({ length: 100 }, () => coll.updateOne({ _id: "one" }, { $inc: { n: 1 } })));
		expect(results.every(r => r.matchedCount === 1)).toBe(true);
	});

	test("a pool_max_conns at or below twice the driver's pool is refused at start", () => {
		expect(() => ferretdbPostgresqlUrl("postgres://postgres@127.0.0.1:5432/x?pool_max_conns=20")).toThrow(/pool_max_conns=20/);
		expect(new URL(ferretdbPostgresqlUrl("postgres://postgres@127.0.0.1:5432/x")).searchParams.get("pool_max_conns")).toBe("70");
	});

	test("filter indexes are created once per indexed field and PostgreSQL plans FerretDB's filter with them", async () => {
		if (!pgUrl) return expect(process.env.TEST_FERRETDB_HANDLER).toBe("sqlite");
		await ConversationModel.collection.insertMany(
			Array.from({ length: 30 }, (_, i) => ({ _id: `c${i}`, merchantId: `m${i % 3}`, openKey: `k${i}`, status: "open" })) as never
		);
		const first = await ensureFilterIndexes(pgUrl, dbName);
		expect(first.created).toBeGreaterThanOrEqual(4); // openKey, merchantId, status, lastMessageAt, contactId
		expect((await ensureFilterIndexes(pgUrl, dbName)).created).toBe(0);

		const [[table]] = (await pgQuery(
			pgUrl,
			`SELECT _jsonb->>'table' FROM "${dbName}"._ferretdb_database_metadata WHERE _jsonb->>'_id' = 'conversations'`
		)) as string[][];
		// The statement FerretDB sends for {openKey: "k7"}, with the planner told to avoid the
		// table scan a 30-row table would get anyway.
		const plan = (
			await pgQuery(pgUrl, `SET enable_seqscan = off; EXPLAIN SELECT _jsonb FROM "${dbName}"."${table}" WHERE _jsonb->'openKey' @> '"k7"'`)
		)
			.flat()
			.join("\n");
		expect(plan).toMatch(/Bitmap Index Scan on \S*openkey\S*_mktx_gin/);
		// And the answers through FerretDB are unchanged.
		expect(await ConversationModel.countDocuments({ merchantId: "m1", status: "open" })).toBe(10);
		expect((await ConversationModel.findOne({ openKey: "k7" }).lean())?._id).toBe("c7");
	});
});
