import { catalogs } from "./i18n.ts";
import { contractEntries, contractKey, type ContractEntry } from "./openapi-contract.ts";
import { RESPONSE_EXAMPLES, SUMMARIES, schemaOfExample } from "./openapi-text.ts";

// The OpenAPI 3.1 document, built from what the gateway actually routes (its aliases) and each
// action's own params schema: nothing about an endpoint is written twice. Path parameters come
// from the route, the rest of the params are the query (GET, DELETE) or the JSON body. Words and
// examples come from the contract (docs/contract/API.vi.md): its Vietnamese title and sentence
// in the description under an English summary (lib/openapi-text.ts), its request example as the
// body's example, and its response example as the shape of `data` (every field optional and
// nullable: an example shows a shape, not which fields may be absent).

export interface AliasInfo {
	actionName?: string;
	path: string;
	fullPath?: string;
	methods: string;
	routePath: string;
	action?: { params?: Record<string, unknown>; rest?: unknown; description?: string };
}

type Schema = Record<string, any>;

const PUBLIC_ROUTES = ["/health", "/r", "/api/v1/mkt-x/webhooks"];
const ERROR_STATUSES: Record<string, string> = {
	"400": "Malformed request (BAD_REQUEST, MESSAGE_TOO_LONG, …)",
	"401": "Missing, expired or invalid token (UNAUTHORIZED)",
	"403": "The token may not do this (FORBIDDEN)",
	"404": "Not found, or another merchant's (NOT_FOUND)",
	"409": "Conflicts with the current state (CONFLICT and specific codes)",
	"413": "Body over 1 MB (PAYLOAD_TOO_LARGE)",
	"422": "Validation failed (VALIDATION_ERROR with details)",
	"429": "Rate limited (RATE_LIMITED); see Retry-After",
	"500": "Internal error (INTERNAL_ERROR), no internals",
	"503": "A service is temporarily unavailable (SERVICE_UNAVAILABLE)",
};

/** JSON Schema as the document carries it: plain JSON (TypeBox's symbol keys and defaults kept). */
function clean(schema: unknown): Schema {
	return JSON.parse(JSON.stringify(schema ?? {}));
}

function openapiPath(fullPath: string): { path: string; pathParams: string[] } {
	const pathParams: string[] = [];
	const path = fullPath.replace(/:([A-Za-z0-9_]+)/g, (_m, name: string) => {
		pathParams.push(name);
		return `{${name}}`;
	});
	return { path, pathParams };
}

function operation(alias: AliasInfo, method: string, pathParams: string[]): Schema {
	const params = clean(alias.action?.params);
	const isJsonSchema = params.type === "object" && typeof params.properties === "object";
	const properties: Schema = isJsonSchema ? params.properties : {};
	const required: string[] = isJsonSchema && Array.isArray(params.required) ? params.required : [];
	// "/api" exactly: the reference page and this document (the API's own route is /api/v1/mkt-x).
	const isPublic = alias.routePath === "/api" || PUBLIC_ROUTES.some(p => alias.routePath === p || alias.routePath.startsWith(`${p}/`));
	const fullPath = alias.fullPath ?? `${alias.routePath}${alias.path}`;
	const contract = contractEntries().get(contractKey(method, fullPath.replace(/:([A-Za-z0-9_]+)/g, "{$1}")));
	const name =
		alias.actionName ?? (fullPath.endsWith("/events") ? "api.events" : fullPath.endsWith("/webhooks/twitter") ? "webhooks.receive" : "");
	const [summaryEn, titleVi] = SUMMARIES[name] ?? [alias.action?.description ?? `${method.toUpperCase()} ${fullPath}`, null];
	const op: Schema = {
		operationId: `${alias.actionName ?? "custom"}.${method}`.replace(/[^A-Za-z0-9_.]/g, "_"),
		summary: summaryEn,
		description: describe(summaryEn, contract, titleVi),
		tags: [alias.actionName?.split(".")[0] ?? "webhooks"],
		parameters: [] as Schema[],
		responses: {} as Schema,
	};
	if (isPublic) op.security = [];
	for (const name of pathParams) {
		op.parameters.push({ name, in: "path", required: true, schema: properties[name] ?? { type: "string" }, example: EXAMPLE_ID });
	}
	const rest = Object.fromEntries(Object.entries(properties).filter(([k]) => !pathParams.includes(k)));
	if (method === "get" || method === "delete") {
		for (const [name, schema] of Object.entries(rest)) {
			const example = QUERY_EXAMPLES[name];
			op.parameters.push({
				name,
				in: "query",
				required: required.includes(name),
				schema,
				...(example !== undefined && required.includes(name) ? { example } : {}),
			});
		}
	} else if (Object.keys(rest).length || !isJsonSchema) {
		const example = contract?.request !== undefined ? withExampleIds(contract.request) : undefined;
		op.requestBody = {
			required: required.some(r => !pathParams.includes(r)),
			content: {
				"application/json": {
					schema: isJsonSchema
						? {
								type: "object",
								properties: rest,
								required: required.filter(r => !pathParams.includes(r)),
								additionalProperties: params.additionalProperties ?? true,
							}
						: { type: "object" },
					...(example !== undefined ? { example } : {}),
				},
			},
		};
	}
	if (op.parameters.length === 0) delete op.parameters;
	const paged = "skip" in properties && "take" in properties;
	const responseExample = contract?.response ?? RESPONSE_EXAMPLES[name];
	const data = (responseExample as { data?: unknown } | undefined)?.data;
	const raw = RAW_RESPONSES[name];
	if (raw)
		op.responses[raw.status ?? "200"] = {
			description: raw.description,
			...(raw.headers ? { headers: raw.headers } : {}),
			...(raw.content ? { content: raw.content } : {}),
		};
	else {
		op.responses["200"] = {
			description: paged ? "A page of results, with `pagination`" : "Success",
			...(isPublic ? {} : { headers: rateLimitHeaders() }),
			content: {
				"application/json": {
					schema: successSchema(data, paged),
					...(responseExample !== undefined ? { example: responseExample } : {}),
				},
			},
		};
	}
	for (const [status, description] of Object.entries(ERROR_STATUSES)) {
		if (isPublic && ["401", "403"].includes(status) && !alias.routePath.endsWith("webhooks")) continue;
		op.responses[status] = {
			description,
			content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" }, example: ERROR_EXAMPLES[status] } },
		};
	}
	return op;
}

/** Answers outside the envelope: streams, pages, redirects, health. */
const RAW_RESPONSES: Record<string, { status?: string; description: string; headers?: Schema; content?: Schema }> = {
	"api.openapi": {
		description: "This OpenAPI 3.1 document",
		content: { "application/json": { schema: { type: "object", required: ["openapi", "info", "paths"] } } },
	},
	"api.docsPage": { description: "The reference page (swagger-ui)", content: { "text/html": { schema: { type: "string" } } } },
	"api.docsAsset": { description: "A file of swagger-ui", content: { "application/octet-stream": { schema: { type: "string" } } } },
	"api.live": {
		description: "The process answers",
		content: { "application/json": { schema: { type: "object", properties: { status: { const: "ok" } }, required: ["status"] } } },
	},
	"api.ready": {
		description: "Ready (503 with the same body while not ready)",
		content: {
			"application/json": {
				schema: {
					type: "object",
					properties: { status: { enum: ["ready", "not_ready"] }, database: { type: "boolean" }, broker: { type: "boolean" } },
					required: ["status", "database", "broker"],
				},
			},
		},
	},
	"api.events": {
		description: "Server-Sent Events until the client leaves",
		content: { "text/event-stream": { schema: { type: "string" } } },
	},
	"contacts.export": { description: "The contacts as CSV", content: { "text/csv": { schema: { type: "string" } } } },
	"campaigns.click": {
		status: "302",
		description: "Redirect to the link's URL (every bad token is the same 404)",
		headers: { Location: { schema: { type: "string", format: "uri" } } },
	},
};

const EXAMPLE_ID = "0b8f2a6e-1c2d-4e5f-8a9b-0c1d2e3f4a5b";
const QUERY_EXAMPLES: Record<string, unknown> = { startDate: "2026-01-01", endDate: "2026-01-31", timezone: "Asia/Ho_Chi_Minh" };
const ERROR_EXAMPLES: Record<string, unknown> = Object.fromEntries(
	Object.entries({
		"400": "BAD_REQUEST",
		"401": "UNAUTHORIZED",
		"403": "FORBIDDEN",
		"404": "NOT_FOUND",
		"409": "CONFLICT",
		"413": "PAYLOAD_TOO_LARGE",
		"422": "VALIDATION_ERROR",
		"429": "RATE_LIMITED",
		"500": "INTERNAL_ERROR",
		"503": "SERVICE_UNAVAILABLE",
	}).map(([status, code]) => [
		status,
		{
			success: false,
			error: catalogs.vi[code],
			errorCode: code,
			...(code === "VALIDATION_ERROR" ? { details: [{ field: "name", message: "name là bắt buộc" }] } : {}),
		},
	])
);

/** English summary, then the contract's Vietnamese title and sentence (or our Vietnamese title). */
function describe(summaryEn: string, contract: ContractEntry | undefined, titleVi: string | null): string {
	const vi = contract ? [contract.titleVi, contract.descriptionVi].filter(Boolean).join(": ") : titleVi;
	return [`**EN** ${summaryEn}.`, vi ? `**VI** ${vi}` : null, contract ? "_(Hợp đồng API / the contract: docs/contract/API.vi.md)_" : null]
		.filter(Boolean)
		.join("\n\n");
}

/** The envelope with `data` shaped like the contract's example (an object, or a list when paged). */
function successSchema(example: unknown, paged: boolean): Schema {
	const data = example !== undefined ? schemaOfExample(example) : paged ? { type: "array", items: { type: "object" } } : {};
	if (paged && data.type !== "array") return successSchema(undefined, true);
	return {
		type: "object",
		properties: { success: { const: true }, data, pagination: { $ref: "#/components/schemas/Pagination" } },
		required: paged ? ["success", "data", "pagination"] : ["success", "data"],
	};
}

/** The contract's placeholder ids ("uuid", "template-uuid") as a real UUID, so the example passes the schema. */
function withExampleIds(value: unknown, key = ""): unknown {
	if (Array.isArray(value)) return value.map(v => withExampleIds(v, key));
	if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withExampleIds(v, k)]));
	return typeof value === "string" && /ids?$/i.test(key) && /uuid/.test(value) ? EXAMPLE_ID : value;
}

function rateLimitHeaders(): Schema {
	return {
		"X-RateLimit-Limit": { schema: { type: "integer" }, description: "Requests allowed per minute for the merchant" },
		"X-RateLimit-Remaining": { schema: { type: "integer" }, description: "Requests left in this minute" },
		"X-RateLimit-Reset": { schema: { type: "integer" }, description: "When the window resets (epoch seconds)" },
	};
}

export function buildOpenApi(aliases: AliasInfo[], info: { version: string; serverUrl?: string }): Schema {
	const paths: Schema = {};
	for (const alias of aliases) {
		const full = alias.fullPath ?? `${alias.routePath}${alias.path}`;
		const { path, pathParams } = openapiPath(full);
		const methods = alias.methods === "*" ? ["get", "post", "put", "delete"] : [alias.methods.toLowerCase()];
		for (const method of methods) {
			paths[path] ??= {};
			paths[path][method] = operation(alias, method, pathParams);
		}
	}
	return {
		openapi: "3.1.0",
		info: {
			title: "mkt-x: X (Twitter) marketing service",
			version: info.version,
			description:
				"Merchants' marketing and customer care on X. Every response is `{success, data, pagination?}`; every error `{success:false, error, errorCode, details?}`, with `error` in the caller's language (Accept-Language: vi by default, or en).",
		},
		// Relative unless the deployment says how it is reached: "Try it out" then calls the
		// origin the page was loaded from, whatever its host and port.
		servers: [{ url: info.serverUrl ?? "/", description: info.serverUrl ? "PUBLIC_BASE_URL" : "this server" }],
		security: [{ bearerAuth: [] }],
		paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
		components: {
			securitySchemes: {
				bearerAuth: {
					type: "http",
					scheme: "bearer",
					bearerFormat: "JWT",
					description:
						"A JWT of the platform's IAM, naming the merchant. For development, sign one with this service's JWT_SECRET: `npm run -s token -- --merchant merchant-1 --user agent-1` (add `--roles viewer` for a read-only token, `--expires 12h`), then paste it here without the word Bearer.",
				},
			},
			schemas: {
				Pagination: {
					type: "object",
					properties: {
						page: { type: "integer" },
						limit: { type: "integer" },
						total: { type: "integer" },
						totalPages: { type: "integer" },
					},
					required: ["page", "limit", "total", "totalPages"],
				},
				SuccessEnvelope: {
					type: "object",
					properties: { success: { const: true }, data: {}, pagination: { $ref: "#/components/schemas/Pagination" } },
					required: ["success", "data"],
				},
				ErrorEnvelope: {
					type: "object",
					properties: {
						success: { const: false },
						error: { type: "string" },
						errorCode: { type: "string", enum: Object.keys(catalogs.en).sort() },
						details: {
							oneOf: [
								{
									type: "array",
									items: {
										type: "object",
										properties: { field: { type: "string" }, message: { type: "string" } },
										required: ["field", "message"],
									},
								},
								{ type: "object" },
							],
						},
					},
					required: ["success", "error", "errorCode"],
				},
			},
		},
	};
}
