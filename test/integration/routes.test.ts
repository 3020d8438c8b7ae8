import { readFileSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../lib/ferretdb.ts";
import { dropDatabase, startNode, useFreshDatabase, type TestNode } from "../helpers/node.ts";

// docs/architecture.md's route table is the gateway's: a node with every service is asked for its
// aliases and the table must list exactly those, each with the action that serves it. A route
// served by a service other than the one its path is named after says why in the table.

useFreshDatabase("routes");

type AliasRow = { fullPath: string; methods: string; actionName?: string };

let node: TestNode;
beforeAll(async () => {
	node = await startNode();
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

/** "GET /api/v1/mkt-x/accounts → accounts.list", one per route, sorted; handlers without an action are "(gateway)". */
async function servedRoutes(): Promise<string[]> {
	const aliases = (await node.broker.call("api.listAliases")) as AliasRow[];
	return [...new Set(aliases.map(a => `${a.methods} ${a.fullPath} → ${a.actionName ?? "(gateway)"}`))].sort();
}

function documentedRoutes(): { rows: string[]; reasons: Map<string, string> } {
	const doc = readFileSync(path.join(projectRoot, "docs/architecture.md"), "utf8");
	const section = doc.split(/^## /m).find(s => s.startsWith("Routes"));
	if (!section) throw new Error('docs/architecture.md has no "## Routes" section');
	const rows: string[] = [];
	const reasons = new Map<string, string>();
	for (const line of section.split("\n").filter(l => /^\| `[A-Z*]+ /.test(l))) {
		const [route, action, why] = line
			.split("|")
			.slice(1, 4)
			.map(c => c.trim().replace(/`/g, ""));
		const row = `${route} → ${action}`;
		rows.push(row);
		if (why) reasons.set(row, why);
	}
	return { rows: rows.sort(), reasons };
}

/** The service a path is named after: the first segment after the API base (`/accounts/:id` → accounts). */
const familyOf = (fullPath: string) =>
	fullPath
		.replace(/^\/api\/v1\/mkt-x/, "")
		.split("/")
		.filter(Boolean)[0] ?? "";

describe("route table in docs/architecture.md", () => {
	test("lists exactly the gateway's routes, each with the action that serves it", async () => {
		expect(documentedRoutes().rows).toEqual(await servedRoutes());
	});

	test("a route served outside the service its path is named after says why", () => {
		const { rows, reasons } = documentedRoutes();
		const unexplained = rows.filter(row => {
			const [route, action] = row.split(" → ");
			const service = action.split(".")[0];
			return service !== familyOf(route.split(" ")[1]) && !reasons.has(row);
		});
		expect(unexplained).toEqual([]);
	});
});
