import { catalogs } from "./i18n.ts";

// The OpenAPI 3.1 document, built from what the gateway actually routes (its aliases) and each
// action's own params schema: nothing about an endpoint is written twice. Path parameters come
// from the route, the rest of the params are the query (GET, DELETE) or the JSON body.

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
	const isPublic = PUBLIC_ROUTES.some(p => alias.routePath === p || alias.routePath.startsWith(`${p}/`));
	const op: Schema = {
		operationId: `${alias.actionName ?? "custom"}.${method}`.replace(/[^A-Za-z0-9_.]/g, "_"),
		summary: alias.action?.description ?? alias.actionName ?? `${method.toUpperCase()} ${alias.fullPath}`,
		tags: [alias.actionName?.split(".")[0] ?? "webhooks"],
		parameters: [] as Schema[],
		responses: {} as Schema,
	};
	if (isPublic) op.security = [];
	for (const name of pathParams) {
		op.parameters.push({ name, in: "path", required: true, schema: properties[name] ?? { type: "string" } });
	}
	const rest = Object.fromEntries(Object.entries(properties).filter(([k]) => !pathParams.includes(k)));
	if (method === "get" || method === "delete") {
		for (const [name, schema] of Object.entries(rest)) op.parameters.push({ name, in: "query", required: required.includes(name), schema });
	} else if (Object.keys(rest).length || !isJsonSchema) {
		op.requestBody = {
			required: required.some(r => !pathParams.includes(r)),
			content: {
				"application/json": {
					schema: isJsonSchema
						? { type: "object", properties: rest, required: required.filter(r => !pathParams.includes(r)), additionalProperties: params.additionalProperties ?? true }
						: { type: "object" },
				},
			},
		};
	}
	if (op.parameters.length === 0) delete op.parameters;
	op.responses["200"] = {
		description: "Success",
		...(isPublic ? {} : { headers: rateLimitHeaders() }),
		content: { "application/json": { schema: { $ref: "#/components/schemas/SuccessEnvelope" } } },
	};
	for (const [status, description] of Object.entries(ERROR_STATUSES)) {
		if (isPublic && ["401", "403"].includes(status) && !alias.routePath.endsWith("webhooks")) continue;
		op.responses[status] = { description, content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorEnvelope" } } } };
	}
	return op;
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
		servers: [{ url: info.serverUrl ?? "http://localhost:5000" }],
		security: [{ bearerAuth: [] }],
		paths: Object.fromEntries(Object.entries(paths).sort(([a], [b]) => a.localeCompare(b))),
		components: {
			securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } },
			schemas: {
				Pagination: {
					type: "object",
					properties: { page: { type: "integer" }, limit: { type: "integer" }, total: { type: "integer" }, totalPages: { type: "integer" } },
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
								{ type: "array", items: { type: "object", properties: { field: { type: "string" }, message: { type: "string" } }, required: ["field", "message"] } },
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
