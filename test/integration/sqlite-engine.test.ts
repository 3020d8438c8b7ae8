import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { resetConfig } from "../../lib/config.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
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
});
