import { createReadStream, existsSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import path from "node:path";
import type { ServiceSchema } from "moleculer";
import { config } from "../lib/config.ts";
import { signToken } from "../lib/auth.ts";
import { BadRequestError, NotFoundError } from "../lib/errors.ts";
import { toErrorResponse } from "../lib/http-errors.ts";
import { localeOf } from "../lib/i18n.ts";
import { projectRoot } from "../lib/ferretdb.ts";

// The web console at /console: the files `npm run console:build` wrote to console/dist, served
// as they are (the console calls the public API like any other client). Its one server-side
// extra is the development sign-in, which only exists while tokens are signed with the public
// development secret: anybody could sign those anyway, so handing them out reveals nothing.

export const CONSOLE_PATH = "/console";
export const consoleDist = path.join(projectRoot, "console", "dist");

const TYPES: Record<string, string> = {
	".html": "text/html; charset=utf-8",
	".js": "application/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	".png": "image/png",
	".json": "application/json; charset=utf-8",
};
// Each segment a plain name: no "..", no hidden files, nothing outside dist.
const SAFE_PATH = /^(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)+$/;
const ID = /^[A-Za-z0-9_.:@-]{1,100}$/;
const ROLES = new Set(["agent", "admin", "viewer"]);

type Req = IncomingMessage & { originalUrl?: string };

function sendError(req: Req, res: ServerResponse, err: unknown) {
	const response = toErrorResponse(err, localeOf(req.headers["accept-language"]));
	if (res.headersSent) return;
	res.writeHead(response.status, { "Content-Type": "application/json; charset=utf-8", ...response.headers });
	res.end(JSON.stringify(response.body));
}

function serveFile(req: Req, res: ServerResponse) {
	const urlPath = (req.url ?? "/").split("?")[0];
	const rel = urlPath === "/" ? "/index.html" : urlPath;
	if (!SAFE_PATH.test(rel)) throw new NotFoundError("File");
	const file = path.join(consoleDist, rel);
	if (!existsSync(file) || !statSync(file).isFile()) {
		if (rel === "/index.html") {
			res.writeHead(503, { "Content-Type": "text/plain; charset=utf-8" });
			res.end("The console is not built: run `npm run console:build` (npm start does it).\n");
			return;
		}
		throw new NotFoundError("File");
	}
	res.writeHead(200, {
		"Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
		// Built files change with each build and are small: revalidate rather than go stale.
		"Cache-Control": "no-cache",
		"X-Content-Type-Options": "nosniff",
	});
	if (req.method === "HEAD") res.end();
	else createReadStream(file).pipe(res);
}

async function readJson(req: Req): Promise<Record<string, unknown>> {
	let raw = "";
	for await (const chunk of req) {
		raw += chunk;
		if (raw.length > 4096) throw new BadRequestError("Body too large");
	}
	try {
		const body = JSON.parse(raw || "{}");
		if (body && typeof body === "object" && !Array.isArray(body)) return body as Record<string, unknown>;
	} catch {
		// falls through to the error below
	}
	throw new BadRequestError("Body must be a JSON object");
}

async function devToken(req: Req, res: ServerResponse) {
	if (!config().jwt.developmentSecret) throw new NotFoundError("Development sign-in");
	const reply = (status: number, body: unknown) => {
		res.writeHead(status, { "Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-store" });
		res.end(JSON.stringify(body));
	};
	if (req.method === "GET") return reply(200, { success: true, data: { available: true } });
	const body = await readJson(req);
	const details = [];
	if (typeof body.merchantId !== "string" || !ID.test(body.merchantId))
		details.push({ field: "merchantId", message: "1–100 letters, digits or _.:@-" });
	if (typeof body.userId !== "string" || !ID.test(body.userId))
		details.push({ field: "userId", message: "1–100 letters, digits or _.:@-" });
	if (body.role !== undefined && (typeof body.role !== "string" || !ROLES.has(body.role)))
		details.push({ field: "role", message: "agent, admin or viewer" });
	if (details.length) throw new BadRequestError("Invalid development sign-in", "VALIDATION_ERROR", details);
	const role = (body.role as string | undefined) ?? "agent";
	const token = signToken({ merchantId: body.merchantId as string, userId: body.userId as string, roles: [role] }, config().jwt, "12h");
	reply(200, { success: true, data: { token } });
}

function consoleMiddleware(req: Req, res: ServerResponse) {
	const urlPath = (req.url ?? "/").split("?")[0];
	const run = async () => {
		if (urlPath === "/dev-token" && (req.method === "GET" || req.method === "POST")) return devToken(req, res);
		if (req.method === "GET" || req.method === "HEAD") return serveFile(req, res);
		throw new NotFoundError("File");
	};
	run().catch(err => sendError(req, res, err));
}

export const ConsoleMixin: Partial<ServiceSchema> = {
	started() {
		// Added here rather than in api.service.ts's route list: the gateway keeps one hook.
		// The middleware answers every request of the route, so it declares no aliases and
		// nothing of it appears in the OpenAPI document.
		(this as unknown as { addRoute(route: unknown): unknown }).addRoute({
			path: CONSOLE_PATH,
			authentication: false,
			authorization: false,
			mappingPolicy: "restrict",
			bodyParsers: { json: false, urlencoded: false },
			use: [consoleMiddleware],
		});
	},
};
