import { createReadStream, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { Context, ServiceSchema } from "moleculer";
import { buildOpenApi } from "../lib/openapi.ts";
import { NotFoundError } from "../lib/errors.ts";
import { config } from "../lib/config.ts";
import { call } from "../lib/calls.ts";

// For the gateway: the OpenAPI document of the routes it serves right now, and a reference
// page rendered by swagger-ui from the package's own files (no CDN: it works offline).

const require = createRequire(import.meta.url);
const swaggerDir = path.dirname(require.resolve("swagger-ui-dist/package.json"));
const version = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
// A Map, not an object: `constructor` or `__proto__` must not look like an asset.
const ASSETS = new Map<string, string>(
	Object.entries({
		"swagger-ui.css": "text/css; charset=utf-8",
		"swagger-ui-bundle.js": "application/javascript; charset=utf-8",
		"swagger-ui-standalone-preset.js": "application/javascript; charset=utf-8",
		"favicon-32x32.png": "image/png",
	})
);

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><title>mkt-x API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css"><link rel="icon" href="/api/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/api/v1/mkt-x/openapi.json", dom_id: "#swagger-ui", presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "StandaloneLayout" });
</script>
</body>
</html>`;

type Meta = { $responseType?: string; $responseHeaders?: Record<string, string> };

export const ApiDocsMixin: Partial<ServiceSchema> = {
	actions: {
		openapi: {
			async handler(ctx: Context<unknown, Meta>) {
				const aliases = await call(ctx, "api.listAliases", { withActionSchema: true });
				ctx.meta.$responseType = "application/json; charset=utf-8";
				const cfg = config();
				return buildOpenApi(aliases, { version, serverUrl: cfg.publicBaseUrlGiven ? cfg.publicBaseUrl : undefined });
			},
		},
		docsPage: {
			handler(ctx: Context<unknown, Meta>) {
				ctx.meta.$responseType = "text/html; charset=utf-8";
				return PAGE;
			},
		},
		docsAsset: {
			params: { type: "object", properties: { file: { type: "string", maxLength: 100 } }, required: ["file"] },
			handler(ctx: Context<{ file: string }, Meta>) {
				const type = ASSETS.get(ctx.params.file);
				if (!type) throw new NotFoundError("Asset");
				ctx.meta.$responseType = type;
				ctx.meta.$responseHeaders = { "Cache-Control": "public, max-age=86400" };
				return createReadStream(path.join(swaggerDir, ctx.params.file));
			},
		},
	},
};
