import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { acquireDb, releaseDb } from "../lib/db.ts";
import { config } from "../lib/config.ts";
import { BadRequestError, ServiceUnavailableError } from "../lib/errors.ts";
import { answerFreesKey, claimKey, fingerprintOf, freeKey, keepAnswer, type Claim, type KeyOptions } from "../lib/idempotency.ts";
import { RequestKeyModel } from "../models/request-key.model.ts";
import type { RequestMeta } from "./tenant.mixin.ts";

// For the gateway: Idempotency-Key on every POST of the API (lib/idempotency.ts), decided
// after authentication and the rate limit, just before the action is called. The gateway holds
// a database connection only for this, opened on the first keyed request, so a gateway starts
// (and answers /health) whatever the database does.

/** Sends a conversation message with its own key handling (services/inbox/send.ts), same semantics. */
const HANDLES_ITS_OWN_KEY = new Set(["inbox.sendMessage"]);
const MAX_KEY_LENGTH = 200;

type Req = IncomingMessage & {
	$ctx: Context<unknown, RequestMeta>;
	$params?: unknown;
	$idempotency?: Claim;
};
type CallAction = (
	route: unknown,
	actionName: string,
	req: Req,
	res: ServerResponse,
	params: unknown,
	isStream: boolean
) => Promise<unknown>;
const gatewayCallAction = (ApiGateway as unknown as { methods: { callAction: CallAction } }).methods.callAction;

export function keyOptions(): KeyOptions {
	const cfg = config();
	return { ttlMs: 24 * 3600_000, opTimeoutMs: 2000, staleAfterMs: cfg.requestTimeoutMs + 10_000 };
}

export const IdempotencyMixin: Partial<ServiceSchema> = {
	methods: {
		async callAction(this: any, route: unknown, actionName: string, req: Req, res: ServerResponse, params: unknown, isStream: boolean) {
			const ctx = req.$ctx;
			const key = req.headers["idempotency-key"];
			if (req.method !== "POST" || key === undefined || HANDLES_ITS_OWN_KEY.has(actionName) || !ctx.meta.merchantId) {
				return gatewayCallAction.call(this, route, actionName, req, res, params, isStream);
			}
			if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
				throw new BadRequestError("Invalid Idempotency-Key", "BAD_REQUEST", [
					{ field: "Idempotency-Key", message: `must be 1 to ${MAX_KEY_LENGTH} characters` },
				]);
			}
			await this.requestKeysReady();
			const result = await claimKey(ctx.meta.merchantId, key, fingerprintOf(actionName, params), keyOptions());
			if (!result.claimed) {
				if (res.headersSent) return true;
				res.setHeader("Idempotent-Replayed", "true");
				res.setHeader("Content-Type", "application/json; charset=utf-8");
				res.writeHead(result.status);
				res.end(JSON.stringify(result.body));
				return true;
			}
			req.$idempotency = result.claim;
			return gatewayCallAction.call(this, route, actionName, req, res, params, isStream);
		},

		/** From onAfterCall: the answer a repeat of this request will get. */
		async keepIdempotentAnswer(req: Req, status: number, body: unknown) {
			const claim = req.$idempotency;
			if (!claim) return;
			req.$idempotency = undefined;
			await keepAnswer(claim, status, body, keyOptions());
		},

		/** From onError: free the key when the answer invites a retry, keep it otherwise. */
		async settleIdempotentError(req: Req, status: number, body: unknown, headers: Record<string, string>) {
			const claim = req.$idempotency;
			if (!claim) return;
			req.$idempotency = undefined;
			if (answerFreesKey(status, headers)) await freeKey(claim, keyOptions());
			else await keepAnswer(claim, status, body, keyOptions());
		},

		/** Connects on first use; a failure is retried by the next keyed request. */
		async requestKeysReady(this: any) {
			if (!this.requestKeysDb) {
				const url = config().mongoUrl;
				if (!url) throw new Error("MONGO_URL is not set");
				this.requestKeysDb = acquireDb(url).then(
					async () => {
						// Only the TTL sweep depends on it (expiry is also checked on read).
						await RequestKeyModel.createIndexes().catch((err: Error) =>
							this.logger.warn(`request keys: index not created: ${err.message}`)
						);
						return true;
					},
					(err: unknown) => {
						this.requestKeysDb = null;
						throw err;
					}
				);
			}
			// Bounded like every key operation: a database that does not answer makes this a 503.
			let timer: NodeJS.Timeout | undefined;
			const deadline = new Promise((_, reject) => {
				timer = setTimeout(() => reject(new Error("database not reachable")), keyOptions().opTimeoutMs);
			});
			try {
				await Promise.race([this.requestKeysDb, deadline]);
			} catch {
				throw new ServiceUnavailableError("The request could not be recorded, try again");
			} finally {
				clearTimeout(timer);
			}
		},
	},

	async stopped(this: any) {
		const db = this.requestKeysDb as Promise<boolean> | null | undefined;
		this.requestKeysDb = null;
		if (db && (await db.catch(() => false))) await releaseDb();
	},
};
