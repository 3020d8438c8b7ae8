import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
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
	expect(doc.paths["/api/v1/mkt-x/accounts"].get.parameters.map((p: { name: string }) => p.name)).toEqual(
		expect.arrayContaining(["skip", "take", "status"])
	);
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

/** The document's `$ref`s replaced by what they name, for Ajv. */
function inline(schema: unknown): unknown {
	if (Array.isArray(schema)) return schema.map(inline);
	if (!schema || typeof schema !== "object") return schema;
	const ref = (schema as { $ref?: string }).$ref;
	if (ref) return inline(doc.components.schemas[ref.split("/").pop()!]);
	return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, inline(v)]));
}

test("the servers entry follows the page's origin, and the document describes every operation in English and Vietnamese with examples", () => {
	expect(new URL(node.url).port).not.toBe("5000");
	expect(doc.servers).toEqual([{ url: "/", description: "this server" }]);
	expect(doc.components.securitySchemes.bearerAuth.description).toContain("npm run -s token -- --merchant");
	const ops = Object.entries(doc.paths).flatMap(([path, methods]) =>
		Object.entries(methods as object).map(([method, op]) => ({ path, method, op }))
	);
	const thin = ops.filter(({ op }) => !op.summary || /^[a-z]+\.[a-zA-Z]+$/.test(op.summary) || !/\*\*VI\*\* /.test(op.description));
	expect(thin.map(o => `${o.method} ${o.path}`)).toEqual([]);
	const get = (path: string, method: string) => doc.paths[`/api/v1/mkt-x${path}`][method];
	expect(get("/accounts", "post").description).toContain("Kết Nối Tài Khoản Twitter");
	expect(get("/accounts", "post").requestBody.content["application/json"].example).toEqual({
		oauthToken: "oauth_token_từ_twitter",
		oauthTokenSecret: "oauth_token_secret_từ_twitter",
	});
	const list = get("/accounts", "get").responses["200"].content["application/json"];
	expect(list.schema.required).toEqual(["success", "data", "pagination"]);
	expect(list.schema.properties.data.type).toBe("array");
	expect(list.schema.properties.data.items.properties.username).toEqual({ type: ["string", "null"] });
	expect(list.example.data[0].username).toBe("goodgo_shop");
	expect(get("/accounts/{id}", "get").responses["404"].content["application/json"].example.errorCode).toBe("NOT_FOUND");
	// Where the contract shows no answer, our own example (lib/openapi-text.ts) shapes it.
	const conversations = get("/analytics/conversations", "get").responses["200"].content["application/json"];
	expect(conversations.example.data.responseTimeTrend[0]).toMatchObject({ date: "2026-01-17", averageResponseSeconds: 225 });
	expect(conversations.schema.properties.data.properties.responseTimeTrend.items.properties.averageResponseSeconds).toEqual({
		type: ["number", "null"],
	});
});

test("'Try it out' with the document's own examples, on a non-default port, answers as documented", async () => {
	const token = tokenFor(`m-try-${Date.now()}`);
	const ajv = createAjv();
	const created: Record<string, string> = {};
	const skip = /\/(events|webhooks\/twitter|export|import)$|^\/api\/docs|^\/r\/|^\/health/;
	const ops = Object.entries(doc.paths)
		.flatMap(([path, methods]) => Object.entries(methods as object).map(([method, op]) => ({ path, method, op })))
		.filter(({ path, op }) => !skip.test(path) && op.security?.length !== 0);
	const order = ["post", "get", "put", "delete"];
	ops.sort((a, b) => order.indexOf(a.method) - order.indexOf(b.method) || a.path.split("/").length - b.path.split("/").length);
	const problems: string[] = [];
	for (const { path, method, op } of ops) {
		const tag = path.split("/")[4];
		let url = path.replace(
			/\{[^}]+\}/g,
			(_m, i: number) => (i === path.indexOf("{") && created[tag]) || op.parameters?.find((p: { in: string }) => p.in === "path")?.example
		);
		const query = (op.parameters ?? []).filter((p: { in: string; example?: unknown }) => p.in === "query" && p.example !== undefined);
		if (query.length)
			url += `?${query.map((p: { name: string; example: unknown }) => `${p.name}=${encodeURIComponent(String(p.example))}`).join("&")}`;
		const body = op.requestBody?.content["application/json"].example;
		const res = await fetch(`${node.url}${doc.servers[0].url.replace(/\/$/, "")}${url}`, {
			method: method.toUpperCase(),
			headers: { Authorization: `Bearer ${token}`, ...(op.requestBody ? { "Content-Type": "application/json" } : {}) },
			body: op.requestBody ? JSON.stringify(body ?? {}) : undefined,
		});
		const answer = await res.json();
		const documented = op.responses[String(res.status)];
		if (!documented) {
			problems.push(`${method} ${url}: ${res.status} is not documented`);
			continue;
		}
		const validate = ajv.compile(inline(documented.content["application/json"].schema) as object);
		if (!validate(answer)) problems.push(`${method} ${url}: ${res.status} ${JSON.stringify(toDetails(validate.errors))}`);
		if (method === "post" && res.status === 200 && !path.includes("{") && typeof answer.data?.id === "string")
			created[tag] = answer.data.id;
	}
	expect(problems).toEqual([]);
	// The examples did real work: resources were created and read back through their own ids.
	expect(Object.keys(created).sort()).toEqual(expect.arrayContaining(["templates", "segments"]));
	expect(ops.length).toBeGreaterThan(40);
});
