import { acquireDb, releaseDb } from "../../lib/db.ts";
import { guardRegistry } from "../../lib/query-guard.ts";
import { TemplateModel } from "../../models/template.model.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";

// The guard wired to a real connection: the driver's command monitoring reports what mongoose
// sends, and the guard records the unserved ones with the caller of this project.

useFreshDatabase("query_guard");

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await TemplateModel.createIndexes();
});
afterAll(async () => {
	await releaseDb();
	await dropDatabase();
});

async function unservedLookup() {
	return await TemplateModel.find({ content: "hello" }).lean();
}

describe("query guard on a real connection", () => {
	const violations = guardRegistry().violations;
	beforeAll(() => void (guardRegistry().checkTestCode = true)); // the queries below are the test's own
	afterEach(() => violations.clear()); // the examples here are on purpose: they must not fail the file

	test("a query no declared index serves is recorded once, with the line that sent it", async () => {
		for (let i = 0; i < 2; i++) await unservedLookup();
		const found = [...violations.values()];
		expect(found).toHaveLength(1);
		expect(found[0]).toMatchObject({ op: "find", collection: "templates", shape: '{"content":"<string>"}', count: 2 });
		expect(found[0].callers[0]).toBe("test/integration/query-guard.test.ts:21");
	});

	test("queries served by declared indexes record nothing", async () => {
		await TemplateModel.find({ merchantId: "m-1", type: "text" }).sort({ createdAt: -1 }).limit(20).lean();
		await TemplateModel.findOne({ _id: "t-1" }).lean();
		await TemplateModel.countDocuments({ merchantId: "m-1" });
		await TemplateModel.updateOne({ merchantId: "m-1", name: "x" }, { $set: { content: "y" } });
		expect([...violations.values()]).toEqual([]);
	});

	test("an in-memory sort under a limit and an unfiltered delete are recorded", async () => {
		await TemplateModel.find({ merchantId: "m-1" }).sort({ updatedAt: -1 }).limit(5).lean();
		await TemplateModel.deleteMany({});
		const found = [...violations.values()].map(v => [v.op, v.why]);
		expect(found).toEqual([
			["find", expect.stringMatching(/^sort \{updatedAt:-1\} with a limit .*in-memory sort$/)],
			["deleteMany", "empty filter: reads the whole collection"],
		]);
	});
});
