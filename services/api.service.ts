import type { IncomingMessage } from "node:http";
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway, { type GatewayResponse, type IncomingRequest, type Route } from "moleculer-web";
import { config } from "../lib/config.ts";
import { verifyToken } from "../lib/auth.ts";
import { ApiError, BadRequestError, ForbiddenError, RateLimitedError, UnauthorizedError } from "../lib/errors.ts";
import { verifyWebhookSignature } from "../lib/webhook-signature.ts";
import { readActivity } from "./webhooks/account-activity.ts";
import { toErrorResponse } from "../lib/http-errors.ts";
import { localeOf } from "../lib/i18n.ts";
import { isPaged } from "../lib/pagination.ts";
import { createCounterStore, type CounterStore } from "../lib/rate-limit.ts";
import type { RequestMeta } from "../mixins/tenant.mixin.ts";
import { ApiDocsMixin } from "../mixins/api-docs.mixin.ts";
import { LiveEventsMixin } from "../mixins/live-events.mixin.ts";
import { IdempotencyMixin } from "../mixins/idempotency.mixin.ts";
import { DrainMixin } from "../mixins/drain.mixin.ts";
import { readiness } from "../lib/readiness.ts";
import { ConsoleMixin } from "../mixins/console.mixin.ts";

// The only place that knows HTTP. Pipeline per request (moleculer-web): alias → onBeforeCall →
// authentication (JWT → ctx.meta) → authorization (roles, then the per-merchant rate limit,
// which needs the merchant) → Idempotency-Key of a POST (mixins/idempotency.mixin.ts) → action →
// onAfterCall (the contract's envelope) → onError. A draining node refuses before all of it
// (mixins/drain.mixin.ts).

export const API_BASE = "/api/v1/mkt-x";
const BODY_LIMIT = "1mb";
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
/** /health/ready answers within 2 s: each of its checks gets this long. */
const READY_BUDGET_MS = 1500;

// moleculer-web's own request and response; what this gateway adds to a request: the key's state.
type Req = IncomingRequest & { $ctx: Context<unknown, RequestMeta>; $idempotency?: unknown };
type Res = GatewayResponse;

interface GatewaySettings {
	port: number;
	rateLimitPerMinute: number;
	webhookEventsPerMinute: number;
	redirectsPerMinute: number;
	[key: string]: unknown;
}

interface GatewayThis {
	logger: { error(...args: unknown[]): void };
	receiveWebhook(req: Req & { body?: unknown }, res: Res): Promise<void>;
	keepIdempotentAnswer(req: Req, status: number, body: unknown): Promise<void>;
	settleIdempotentError(req: Req, status: number, body: unknown, headers: Record<string, string>): Promise<void>;
	/** From the drain mixin. */
	isDraining(): boolean;
}

function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}) {
	if (res.headersSent) return;
	for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
	res.setHeader("Content-Type", "application/json; charset=utf-8");
	res.writeHead(status);
	res.end(JSON.stringify(body));
}

function onError(this: GatewayThis, req: Req, res: Res, err: unknown) {
	const locale = localeOf(req.headers["accept-language"]);
	const response = toErrorResponse(err, locale, { write: WRITE_METHODS.has(req.method ?? "") });
	if (response.status >= 500) this.logger.error(`${req.method} ${req.url} failed:`, err);
	const send = () => sendJson(res, response.status, response.body, response.headers);
	// A keyed POST settles its key (freed or kept for the repeats) before the caller hears back.
	if (req.$idempotency) return this.settleIdempotentError(req, response.status, response.body, response.headers).finally(send);
	send();
}

const cfg = config();

const ApiService: ServiceSchema<GatewaySettings, GatewayThis, { counters: CounterStore }> = {
	name: "api",
	// An earlier mixin wins a method both define: these two wrap moleculer-web's own.
	mixins: [IdempotencyMixin, DrainMixin, ApiGateway as unknown as Partial<ServiceSchema>, ApiDocsMixin, LiveEventsMixin, ConsoleMixin],

	settings: {
		port: cfg.port,
		ip: "0.0.0.0",
		rateLimitPerMinute: cfg.rateLimit.apiPerMinute,
		webhookEventsPerMinute: cfg.rateLimit.webhookEventsPerMinute,
		redirectsPerMinute: cfg.rateLimit.redirectsPerMinute,
		// An SSE stream is open for as long as the dashboard is: it is not an in-flight request that
		// a graceful stop should wait for (the stream is ended when the gateway stops).
		rootCallOptions(options: { tracking?: boolean }, req: IncomingMessage) {
			if (req.url?.split("?")[0].endsWith("/events")) options.tracking = false;
		},
		// Routes of services that join (here or on another node) appear this long after they do.
		debounceTime: 100,
		log4XXResponses: false,
		logRequest: "debug",
		logResponse: "debug",
		logRouteRegistration: "debug",
		cors: cfg.corsOrigins.length
			? {
					origin: cfg.corsOrigins,
					methods: ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
					allowedHeaders: ["Authorization", "Content-Type", "Accept-Language", "Idempotency-Key", "Last-Event-ID"],
					exposedHeaders: ["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"],
					maxAge: 600,
				}
			: undefined,
		routes: [
			{
				// Liveness and readiness for the orchestrator: outside the API base path, no auth.
				path: "/health",
				authentication: false,
				authorization: false,
				mappingPolicy: "restrict",
				bodyParsers: { json: false, urlencoded: false },
				aliases: { "GET /live": "api.live", "GET /ready": "api.ready" },
				onError,
			},
			{
				// X's webhook: no JWT; X's signature instead, checked on the raw bytes.
				path: `${API_BASE}/webhooks`,
				authentication: false,
				authorization: false,
				mappingPolicy: "restrict",
				bodyParsers: { json: false, urlencoded: false, raw: { type: () => true, limit: BODY_LIMIT } },
				aliases: {
					"GET /twitter": "webhooks.crc",
					"GET /verify": "webhooks.crc",
					"POST /twitter"(this: GatewayThis, req: Req & { body?: unknown }, res: Res) {
						return this.receiveWebhook(req, res).catch((err: unknown) => onError.call(this, req, res, err));
					},
				},
				onError,
			},
			{
				// Tracking links in campaign messages: the recipient's browser follows them, so no
				// JWT; campaigns.click answers a 302 to the original URL and counts the first click.
				path: "/r",
				authentication: false,
				authorization: false,
				mappingPolicy: "restrict",
				bodyParsers: { json: false, urlencoded: false },
				aliases: { "GET /:token": "campaigns.click" },
				// No token to count by: counted per client address (the socket's, never a header
				// a client could set), so nobody can walk the token space from one machine.
				async onBeforeCall(this: { counters: CounterStore; settings: GatewaySettings }, _ctx: Context, _route: Route, req: Req, res: Res) {
					const limit = this.settings.redirectsPerMinute;
					const hit = await this.counters.hit(`redirect:${req.socket.remoteAddress ?? "unknown"}`, limit, 60_000);
					res.setHeader("X-RateLimit-Limit", String(limit));
					res.setHeader("X-RateLimit-Remaining", String(hit.remaining));
					if (!hit.allowed) throw new RateLimitedError(`More than ${limit} link visits per minute`, (hit.resetAt - Date.now()) / 1000);
				},
				onError,
			},
			{
				path: API_BASE,
				authentication: true,
				authorization: true,
				autoAliases: true,
				mappingPolicy: "restrict",
				blacklist: ["api.*", "webhooks.*"],
				aliases: {
					// Server-Sent Events of the merchant's activity (mixins/live-events.mixin.ts).
					"GET /events"(this: GatewayThis & { openLiveStream(req: Req, res: Res): void }, req: Req, res: Res) {
						this.openLiveStream(req, res);
					},
				},
				bodyParsers: { json: { limit: BODY_LIMIT, strict: true }, urlencoded: false },
				onBeforeCall(ctx: Context<unknown, RequestMeta>, _route: Route, req: Req) {
					ctx.meta.locale = localeOf(req.headers["accept-language"]);
					const key = req.headers["idempotency-key"];
					if (typeof key === "string" && key.length > 0 && key.length <= 200) ctx.meta.idempotencyKey = key;
				},
				async onAfterCall(
					this: GatewayThis,
					ctx: Context<unknown, RequestMeta & { $responseType?: string; $statusCode?: number }>,
					_route: Route,
					req: Req,
					_res: Res,
					data: unknown
				) {
					if (ctx.meta.$responseType) return data; // streams (CSV, SSE) pass untouched
					const envelope = isPaged(data)
						? { success: true, data: data.data, pagination: data.pagination }
						: { success: true, data: data ?? null };
					await this.keepIdempotentAnswer(req, ctx.meta.$statusCode ?? 200, envelope);
					return envelope;
				},
				onError,
			},
			{
				// The API's reference: public, like the contract itself. After the main route, so
				// its prefix never captures an API path.
				path: "/api",
				authentication: false,
				authorization: false,
				mappingPolicy: "restrict",
				bodyParsers: { json: false, urlencoded: false },
				aliases: {
					"GET /v1/mkt-x/openapi.json": "api.openapi",
					"GET /docs": "api.docsPage",
					"GET /docs/:file": "api.docsAsset",
				},
				onError,
			},
		],
		onError,
	},

	actions: {
		// moleculer-web's request action: a request is handled once. Retrying it would run the
		// whole request again (a POST twice) when an inner call failed with a retryable error.
		rest: { retryPolicy: { enabled: false } },
		live: {
			handler() {
				return { status: "ok" };
			},
		},
		ready: {
			async handler(ctx: Context<unknown, { $statusCode?: number }>) {
				const answer = await readiness(ctx, this.broker, { budgetMs: READY_BUDGET_MS, draining: this.isDraining() });
				if (answer.status !== "ready") ctx.meta.$statusCode = 503;
				return answer;
			},
		},
	},

	methods: {
		/**
		 * Signature first (a stranger must not spend our event budget), then the events-per-minute
		 * limit (X retries a 429 later), then the durable store; the 200 goes out only after it.
		 */
		async receiveWebhook(req: Req & { body?: unknown }, res: Res) {
			const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
			if (!verifyWebhookSignature(config().x.consumerSecret, raw, req.headers["x-twitter-webhooks-signature"])) {
				throw new ApiError("Invalid webhook signature", 401, "INVALID_SIGNATURE");
			}
			let events = 1;
			try {
				events = Math.max(1, readActivity(JSON.parse(raw.toString("utf8"))).eventCount);
			} catch {
				throw new BadRequestError("Webhook body is not JSON");
			}
			const limit = this.settings.webhookEventsPerMinute;
			const hit = await this.counters.hit("webhook-events", limit, 60_000, { cost: events });
			res.setHeader("X-RateLimit-Limit", String(limit));
			res.setHeader("X-RateLimit-Remaining", String(hit.remaining));
			res.setHeader("X-RateLimit-Reset", String(Math.ceil(hit.resetAt / 1000)));
			if (!hit.allowed) throw new RateLimitedError(`More than ${limit} webhook events per minute`, (hit.resetAt - Date.now()) / 1000);
			const result = await this.broker.call("webhooks.receive", { payload: raw.toString("utf8") });
			sendJson(res, 200, { success: true, data: result });
		},

		async authenticate(ctx: Context<unknown, RequestMeta>, _route: Route, req: Req) {
			const header = req.headers.authorization;
			const match = typeof header === "string" ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
			if (!match) throw new UnauthorizedError("Missing bearer token");
			const claims = verifyToken(match[1], config().jwt);
			ctx.meta.merchantId = claims.merchantId;
			ctx.meta.userId = claims.userId;
			ctx.meta.roles = claims.roles;
			return { merchantId: claims.merchantId, userId: claims.userId };
		},

		async authorize(ctx: Context<unknown, RequestMeta>, _route: Route, req: Req, res: Res) {
			// A read-only dashboard user holds the single role "viewer".
			const roles = ctx.meta.roles ?? [];
			if (roles.length > 0 && roles.every(r => r === "viewer") && WRITE_METHODS.has(req.method ?? "")) {
				throw new ForbiddenError("This token may only read");
			}
			const limit = this.settings.rateLimitPerMinute;
			const hit = await this.counters.hit(`api:${ctx.meta.merchantId}`, limit, 60_000);
			const resetSeconds = Math.ceil(hit.resetAt / 1000);
			res.setHeader("X-RateLimit-Limit", String(hit.limit));
			res.setHeader("X-RateLimit-Remaining", String(hit.remaining));
			res.setHeader("X-RateLimit-Reset", String(resetSeconds));
			if (!hit.allowed) {
				throw new RateLimitedError(`More than ${limit} requests per minute`, (hit.resetAt - Date.now()) / 1000, {
					limit,
					resetAt: new Date(hit.resetAt).toISOString(),
				});
			}
		},
	},

	async started() {
		// Shared with the other gateways through the broker's own NATS when there is one.
		const transporter = this.broker.options.transporter;
		// Counted per deployment (the broker's namespace): another one on the same NATS keeps its own.
		this.counters = await createCounterStore(
			typeof transporter === "string" ? transporter : null,
			config().rateLimit.kvBucket,
			this.broker.namespace
		);
	},

	async stopped() {
		await this.counters?.close();
	},
};

export default ApiService;
