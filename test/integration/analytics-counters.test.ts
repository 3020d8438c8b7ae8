import { useFreshDatabase, dropDatabase } from "../helpers/node.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { AnalyticsFactModel } from "../../models/analytics-fact.model.ts";
import { AnalyticsQuarterModel } from "../../models/analytics-quarter.model.ts";
import { AnalyticsDayModel } from "../../models/analytics-day.model.ts";
import { AnalyticsDayTotalModel } from "../../models/analytics-day-total.model.ts";
import { ANALYTICS_MODELS, recount, quarterKeyOf } from "../../services/analytics/store.ts";
import { dayOfQuarter, dayRowId, dayTotalsRowId, quarterRowId } from "../../services/analytics/buckets.ts";

// The counter rows against FerretDB's non-atomic updates: many writers recount the same quarter
// at once, each right after recording its own fact. A single read-count-write pass loses some
// (measured here: 49 to 59 of 60); the check loop of services/analytics/store.ts must not.

useFreshDatabase("analytics-counters");
const log = { warn: () => {} };

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	for (const model of ANALYTICS_MODELS) await model.createIndexes();
});
afterAll(async () => {
	await releaseDb();
	await dropDatabase();
});

test.each([1, 2])("sixty facts recorded at once, each followed by its own recount, leave the rows at exactly sixty (run %d)", async run => {
	const merchantId = `m-race-${run}`;
	const quarter = 1_968_000 + run; // some quarter of 2026
	const fact = (i: number) => ({
		_id: `in:${run}-${i}`,
		merchantId,
		accountId: "a",
		contactId: null,
		type: "in",
		quarter,
		dims: i % 3 ? [] : ["origin:x"],
		value: i,
		ref: null,
		deleted: false,
		recordedAt: new Date(),
	});
	await Promise.all(
		Array.from({ length: 60 }, async (_, i) => {
			const f = fact(i);
			await AnalyticsFactModel.collection.insertOne(f as never);
			await recount([quarterKeyOf(f)], log);
		})
	);
	const sum = (60 * 59) / 2;
	expect(await AnalyticsQuarterModel.findById(quarterRowId(merchantId, "a", "in", quarter)).lean()).toMatchObject({
		n: 60,
		s: sum,
		cells: [{ k: "origin:x", n: 20 }],
	});
	const day = dayOfQuarter(quarter);
	expect(await AnalyticsDayModel.findById(dayRowId(merchantId, "a", "in", day)).lean()).toMatchObject({ n: 60, s: sum });
	const totals = await AnalyticsDayTotalModel.findById(dayTotalsRowId(merchantId, "a", day)).lean();
	expect(JSON.parse(totals!.totals)).toEqual({ in: { n: 60, s: sum } });
});
