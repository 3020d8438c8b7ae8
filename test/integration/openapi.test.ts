import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { client, dropDatabase, startNode, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { createAjv, toDetails } from "../../lib/validator.ts";

// The OpenAPI document is generated from the gateway's routes and the actions' own schemas.
// These tests hold it to that: every route is in it, it is a valid OpenAPI 3.1 document, and
// the contract's request examples (docs/contract/API.vi.md, a copy of ../shared/spec/API.vi.md) pass the schemas it publishes.

useFreshDatabase("openapi");

let node: TestNode;
let doc: any;
beforeAll(async () => {
	node = await startNode();
	const res = await client(node.url).get("/openapi.json");
	expect(res.status).toBe(200);
	doc = res.body;
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

test("the document is served without a token and is valid OpenAPI 3.1", async () => {
	expect(doc.openapi).toBe("3.1.0");
	const result = await new Validator().validate(doc);
	expect(result.errors ?? []).toEqual([]);
	expect(result.valid).toBe(true);
	expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
	expect(doc.components.schemas.ErrorEnvelope.required).toEqual(["success", "error", "errorCode"]);
});

test("every route the gateway exposes is in the document, with its method", async () => {
	const aliases = (await node.broker.call("api.listAliases")) as { fullPath: string; methods: string }[];
	expect(aliases.length).toBeGreaterThan(40);
	const missing = aliases
		.map(a => ({ path: a.fullPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}"), method: a.methods.toLowerCase() }))
		.filter(({ path, method }) => !(doc.paths[path] && (method === "*" || doc.paths[path][method])));
	expect(missing).toEqual([]);
	expect(doc.paths["/api/v1/mkt-x/webhooks/twitter"].post.security).toEqual([]);
	expect(doc.paths["/api/v1/mkt-x/accounts"].get.responses["200"].headers["X-RateLimit-Remaining"]).toBeDefined();
	expect(doc.paths["/api/v1/mkt-x/accounts"].get.parameters.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(["skip", "take", "status"]));
});

/** The contract's request examples: an endpoint line ("POST /path"), then "Request Body" and a JSON object. */
function contractExamples(): { method: string; path: string; body: unknown }[] {
	const lines = readFileSync(new URL("../../docs/contract/API.vi.md", import.meta.url), "utf8").split("\n");
	const out: { method: string; path: string; body: unknown }[] = [];
	let endpoint: { method: string; path: string } | null = null;
	for (let i = 0; i < lines.length; i++) {
		const line = lines[i].trim();
		const m = /^(GET|POST|PUT|DELETE) (\/\S*)$/.exec(line);
		if (m) endpoint = { method: m[1].toLowerCase(), path: m[2] };
		if (!endpoint || !line.startsWith("Request Body")) continue;
		let j = i + 1;
		while (j < lines.length && lines[j].trim() === "") j++;
		if (!lines[j]?.trim().startsWith("{")) continue;
		let depth = 0;
		const json: string[] = [];
		for (; j < lines.length; j++) {
			json.push(lines[j]);
			depth += (lines[j].match(/\{/g) ?? []).length - (lines[j].match(/\}/g) ?? []).length;
			if (depth === 0) break;
		}
		out.push({ ...endpoint, body: JSON.parse(json.join("\n")) });
		endpoint = null;
	}
	return out;
}

const realId = (v: unknown): unknown =>
	Array.isArray(v) ? v.map(realId) : typeof v === "string" && /uuid/.test(v) ? "0b8f2a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b" : withRealIds(v);

/** Placeholder ids ("uuid", "template-uuid") become real UUIDs: the format check is the service's. */
function withRealIds(value: unknown): unknown {
	if (Array.isArray(value)) return value.map(withRealIds);
	if (value && typeof value === "object") {
		return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, /ids?$/i.test(k) ? realId(v) : withRealIds(v)]));
	}
	return value;
}

test("the contract's request examples pass the published schemas", () => {
	const examples = contractExamples();
	expect(examples.length).toBeGreaterThanOrEqual(15);
	const ajv = createAjv();
	const results = examples.map(example => {
		const pattern = new RegExp(`^/api/v1/mkt-x${example.path.replace(/\{[^}]+\}/g, "\\{[^}]+\\}")}$`);
		const path = Object.keys(doc.paths).find(p => pattern.test(p));
		const op = path ? doc.paths[path][example.method] : undefined;
		const schema = op?.requestBody?.content["application/json"].schema;
		if (!schema) return { example: `${example.method} ${example.path}`, problem: "no such operation in the document" };
		const validate = ajv.compile(schema);
		const ok = validate(withRealIds(example.body));
		return { example: `${example.method} ${example.path}`, problem: ok ? null : toDetails(validate.errors) };
	});
	const failures = results.filter(r => r.problem);
	// (The AI example's "gpt-4" passes the schema and is refused by the action with the list of
	// allowed Claude models: the allowed list is configuration, not schema.)
	expect(failures).toEqual([]);
});

test("the reference page works offline: local swagger-ui assets, no CDN", async () => {
	const res = await fetch(`${node.url}/api/docs`);
	expect(res.status).toBe(200);
	expect(res.headers.get("content-type")).toMatch(/text\/html/);
	const html = await res.text();
	expect(html).toContain("/api/v1/mkt-x/openapi.json");
	expect(html).not.toMatch(/https?:\/\//);
	const asset = await fetch(`${node.url}/api/docs/swagger-ui-bundle.js`);
	expect(asset.status).toBe(200);
	expect(asset.headers.get("content-type")).toMatch(/javascript/);
	expect((await asset.text()).length).toBeGreaterThan(100_000);
	expect((await fetch(`${node.url}/api/docs/..%2Fpackage.json`)).status).toBe(404);
});
