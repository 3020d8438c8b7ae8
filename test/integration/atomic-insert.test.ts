import mongoose, { Schema } from "mongoose";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";

// FerretDB 1.x applies a single-document update as read-modify-write, so two concurrent
// updates can both "win". An insert into a unique index is atomic on FerretDB and MongoDB
// alike; this project decides every "exactly once" (claims, dedupe, idempotency) that way.

useFreshDatabase("atomic");

const Claim = mongoose.model("Claim", new Schema({ _id: String, by: Number }, { collection: "claims" }));
const Keyed = mongoose.model(
	"Keyed",
	new Schema({ scope: String, key: String, by: Number }, { collection: "keyed" }).index({ scope: 1, key: 1 }, { unique: true })
);

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await Keyed.createIndexes();
});
afterAll(async () => {
	await dropDatabase();
	await releaseDb();
});

test("50 concurrent inserts of the same _id: exactly one succeeds, 49 get a duplicate-key error", async () => {
	const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => Claim.create({ _id: "the-one", by: i })));
	const won = results.filter(r => r.status === "fulfilled");
	const lost = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
	expect(won).toHaveLength(1);
	expect(lost).toHaveLength(49);
	for (const r of lost) expect(r.reason.code).toBe(11000);
	expect(await Claim.countDocuments({ _id: "the-one" })).toBe(1);
});

test("50 concurrent inserts against a compound unique index: exactly one row", async () => {
	const results = await Promise.allSettled(
		Array.from({ length: 50 }, (_, i) => Keyed.create({ scope: "campaign-1", key: "contact-1", by: i }))
	);
	expect(results.filter(r => r.status === "fulfilled")).toHaveLength(1);
	expect(await Keyed.countDocuments({ scope: "campaign-1", key: "contact-1" })).toBe(1);
});
