import { readFileSync } from "node:fs";
import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import type { TwitterApi } from "twitter-api-v2";
import { DbMixin } from "../mixins/db.mixin.ts";
import { merchantOf, type RequestMeta } from "../mixins/tenant.mixin.ts";
import { AccountModel, type Account } from "../models/account.model.ts";
import { SEND_KINDS, SendLedgerModel } from "../models/send-ledger.model.ts";
import { config } from "../lib/config.ts";
import { decryptSecret } from "../lib/crypto.ts";
import { BadRequestError, ConflictError, NotFoundError, RateLimitedError, UpstreamUnavailableError } from "../lib/errors.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { defineService } from "../lib/service.ts";
import { createXClientFactory, type XClientFactory } from "../lib/x/client.ts";
import { classifyXError, XDeliveryUnknownError, XNotConfiguredError, XRejectedError, type XFailure } from "../lib/x/errors.ts";
import { MAX_MESSAGE_LENGTH, MAX_SEND_BATCH } from "../lib/x/message.ts";
import type { XSandbox } from "../sandbox/x-sandbox.ts";
import { SendLedger, type SendRef } from "./x/send-ledger.ts";
import { retryAtOf, rulesFor } from "./x/send-limits.ts";
import { sendBatch, type DmResult, type OutgoingDm } from "./x/send-batch.ts";

// The only service that talks to X. Internal actions (no REST route): accounts call
// verifyCredentials, the inbox's send pipeline calls sendDirectMessages (one account's batch),
// and every send goes through the shared send limits first. X's refusals come back as our errors, never
// as a 500: 400 INVALID_OAUTH_CREDENTIALS, 429 RATE_LIMITED (ours or X's, with retryAfter),
// 422 X_REJECTED (with X's reason), 503 UPSTREAM_UNAVAILABLE (nothing was sent, retryable) or
// 503 X_DELIVERY_UNKNOWN (the DM may have gone out; never retried blindly).

const VerifyParams = Strict({
	oauthToken: Type.String({ minLength: 1, maxLength: 200 }),
	oauthTokenSecret: Type.String({ minLength: 1, maxLength: 200 }),
});

const SendParams = Strict({
	accountId: Id(),
	recipientTwitterUserId: Type.String({ pattern: "^[0-9]{1,19}$" }),
	text: Type.String({ minLength: 1, maxLength: MAX_MESSAGE_LENGTH }),
	mediaUrl: Type.Optional(Type.String({ format: "uri", maxLength: 2048 })),
	kind: StringEnum(SEND_KINDS),
});

const BatchParams = Strict({
	accountId: Id(),
	kind: StringEnum(SEND_KINDS),
	messages: Type.Array(
		Strict({
			ref: Type.String({ minLength: 1, maxLength: 200 }),
			recipientTwitterUserId: Type.String({ pattern: "^[0-9]{1,19}$" }),
			text: Type.String({ minLength: 1, maxLength: MAX_MESSAGE_LENGTH }),
			mediaUrl: Type.Optional(Type.String({ format: "uri", maxLength: 2048 })),
		}),
		{ minItems: 1, maxItems: MAX_SEND_BATCH }
	),
});

const QuotaParams = Strict({ accountId: Id() });

const CheckParams = Strict({
	accountId: Id(),
	kind: StringEnum(SEND_KINDS, { default: "agent" }),
});

type XContext<P> = Context<P, RequestMeta>;

/** One DM's outcome as the single-DM action answers it: its result, or our error for what went wrong. */
function asSingleAnswer(r: DmResult) {
	switch (r.outcome) {
		case "sent":
			return { twitterMessageId: r.twitterMessageId, dmConversationId: r.dmConversationId, sentAt: r.sentAt };
		case "rate_limited":
			return Promise.reject(new RateLimitedError(r.message, r.retryAfter, { source: r.source, limits: r.limits, retryAt: r.retryAt }));
		case "rejected":
			return Promise.reject(r.error ?? new XRejectedError(r.reason, r.xStatus ?? 400, r.xCode));
		case "unknown":
			return Promise.reject(new XDeliveryUnknownError(r.reason));
		default:
			return Promise.reject(new UpstreamUnavailableError(`X could not be reached: ${r.reason}`));
	}
}

function xRateLimitError(failure: Extract<XFailure, { kind: "rate_limited" }>): RateLimitedError {
	return new RateLimitedError(
		`X is rate limiting this account (${failure.window}) until ${failure.resetAt.toISOString()}`,
		failure.retryAfterSeconds,
		{
			source: "x",
			limits: [failure.window],
			retryAt: failure.resetAt.toISOString(),
		}
	);
}

/** What the service keeps on itself: the sandbox it may run, its X client maker, the send ledger. */
interface XState {
	sandbox: XSandbox | null;
	clientFor: XClientFactory | null;
	ledger: SendLedger;
	/** The ledger's writes of batches' outcomes still in flight (awaited before the service stops). */
	settling: Set<Promise<void>>;
}

const XService = defineService<object, XState>()({
	name: "x",
	mixins: [DbMixin([SendLedgerModel])],

	methods: {
		/** The service's clock; tests replace it. */
		now(): Date {
			return new Date();
		},

		client(tokens: { accessToken: string; accessSecret: string }): TwitterApi {
			if (!this.clientFor) throw new XNotConfiguredError();
			return this.clientFor(tokens);
		},

		/** The merchant's account, connected and with its tokens; 404 for another merchant's. */
		async activeAccount(merchantId: string, accountId: string): Promise<Account> {
			const account = await AccountModel.findOne({ _id: accountId, merchantId }).lean<Account>();
			if (!account) throw new NotFoundError("Account");
			if (account.status !== "active" || !account.oauthTokenEnc || !account.oauthTokenSecretEnc) {
				throw new ConflictError("The account is not connected", "ACCOUNT_INACTIVE", { status: account.status });
			}
			return account;
		},

		tokensOf(account: Account) {
			const key = config().encryptionKey;
			return { accessToken: decryptSecret(account.oauthTokenEnc!, key), accessSecret: decryptSecret(account.oauthTokenSecretEnc!, key) };
		},

		/**
		 * Sends DMs of one account of the merchant; one result per DM (the account's own problems
		 * throw). `settleLater`: answer before the ledger's write of the outcomes lands (services/x/send-batch.ts).
		 */
		async sendMany(
			merchantId: string,
			accountId: string,
			kind: SendRef["kind"],
			messages: OutgoingDm[],
			settleLater = false
		): Promise<DmResult[]> {
			const account = await this.activeAccount(merchantId, accountId);
			const { maxBytes, fetchTimeoutMs, allowPrivateHosts } = config().media;
			return sendBatch(
				{
					client: this.client(this.tokensOf(account)),
					ledger: this.ledger,
					rules: rulesFor(kind, config().sendLimits),
					now: () => this.now(),
					media: { maxBytes, fetchTimeoutMs, allowPrivateHosts },
					...(settleLater ? { settle: (write: Promise<void>) => this.settle(write) } : {}),
				},
				{ merchantId, accountId, kind },
				messages
			);
		},

		settle(write: Promise<void>): void {
			const settling = this.settling;
			const tracked: Promise<void> = write
				.catch((err: Error) => this.logger.warn(`send ledger: outcomes of a batch not recorded (they keep counting): ${err.message}`))
				.finally(() => settling.delete(tracked));
			settling.add(tracked);
		},

		async quota(ref: SendRef) {
			const rules = rulesFor(ref.kind, config().sendLimits);
			const usage = await this.ledger.usage(ref, rules);
			const limits = usage.map(u => ({ ...u, resetAt: u.resetAt?.toISOString() ?? null }));
			return { rules, limits, remaining: Math.min(...usage.map(u => u.remaining)) };
		},
	},

	created() {
		this.sandbox = null;
		this.clientFor = null;
		this.ledger = new SendLedger({ clock: () => this.now() });
		this.settling = new Set<Promise<void>>();
	},

	async started() {
		const cfg = config();
		let { apiBaseUrl } = cfg.x;
		let caPem: string | null = null;
		if (cfg.x.caFile) {
			try {
				caPem = readFileSync(cfg.x.caFile, "utf8");
			} catch (err) {
				throw new Error(`X_API_CA_FILE ${cfg.x.caFile} cannot be read: ${(err as Error).message}`);
			}
		}
		if (cfg.x.sandbox && !apiBaseUrl) {
			// Loaded only here: production never loads the sandbox (nor its certificate maker).
			const { startSandboxMode } = await import("./x/sandbox-mode.ts");
			this.sandbox = await startSandboxMode(cfg, this.logger);
			apiBaseUrl = this.sandbox.url;
			caPem = this.sandbox.ca;
		}
		if (cfg.x.consumerKey && cfg.x.consumerSecret) {
			this.clientFor = createXClientFactory({
				consumerKey: cfg.x.consumerKey,
				consumerSecret: cfg.x.consumerSecret,
				apiBaseUrl,
				caPem,
				timeoutMs: cfg.x.timeoutMs,
			});
		} else {
			this.logger.warn("X_CONSUMER_KEY / X_CONSUMER_SECRET are not set: calls to X will answer 503 X_NOT_CONFIGURED");
		}
	},

	async stopped() {
		await Promise.all(this.settling);
		await this.sandbox?.stop();
	},

	actions: {
		/** Asks X who an OAuth token belongs to (GET /2/users/me). */
		verifyCredentials: {
			visibility: "public",
			params: VerifyParams,
			async handler(ctx: XContext<Static<typeof VerifyParams>>) {
				const client = this.client({ accessToken: ctx.params.oauthToken, accessSecret: ctx.params.oauthTokenSecret });
				try {
					const { data } = await client.v2.me({ "user.fields": ["profile_image_url"] });
					return {
						twitterUserId: data.id,
						username: data.username,
						displayName: data.name ?? data.username,
						profileImageUrl: data.profile_image_url ?? null,
					};
				} catch (err) {
					const failure = classifyXError(err, this.now().getTime());
					if (failure.kind === "rate_limited") throw xRateLimitError(failure);
					if (failure.kind === "rejected" && (failure.status === 401 || failure.status === 403)) {
						throw new BadRequestError("X refused the OAuth token", "INVALID_OAUTH_CREDENTIALS");
					}
					if (failure.kind === "rejected") throw new XRejectedError(failure.reason, failure.status, failure.xCode);
					// A credential check changes nothing at X: safe to retry.
					throw new UpstreamUnavailableError(`X could not be reached: ${failure.reason}`);
				}
			},
		},

		/**
		 * Sends one DM from an account to an X user, within the send limits; with `mediaUrl`, the
		 * image is fetched, uploaded to X and attached. → { twitterMessageId, dmConversationId, sentAt }
		 */
		sendDirectMessage: {
			visibility: "public",
			params: SendParams,
			// Fetching an image, uploading it and sending can take longer than the broker's default request timeout.
			timeout: 60_000,
			async handler(ctx: XContext<Static<typeof SendParams>>) {
				const { accountId, recipientTwitterUserId, text, mediaUrl, kind } = ctx.params;
				const [result] = await this.sendMany(merchantOf(ctx), accountId, kind, [
					{ ref: "dm", recipientTwitterUserId, text, ...(mediaUrl ? { mediaUrl } : {}) },
				]);
				return asSingleAnswer(result);
			},
		},

		/**
		 * The batch form, for senders of many DMs of one account (the inbox's pipeline): slots are
		 * claimed for the whole batch, and every DM answers its own outcome (see services/x/send-batch.ts):
		 * { results: [{ ref, outcome: sent|rate_limited|unavailable|rejected|unknown, ... }] }.
		 */
		sendDirectMessages: {
			visibility: "public",
			params: BatchParams,
			// A batch runs SEND_PARALLELISM DMs at a time, each bounded by X_API_TIMEOUT_MS.
			timeout: 10 * 60_000,
			async handler(ctx: XContext<Static<typeof BatchParams>>) {
				const { accountId, kind, messages } = ctx.params;
				const results = await this.sendMany(merchantOf(ctx), accountId, kind, messages, true);
				// An Error does not cross the wire: its words do.
				return { results: results.map(r => (r.outcome === "rejected" ? { ...r, error: undefined } : r)) };
			},
		},

		/**
		 * What an account may still send: the contract's 500 per 24 hours (limit/used/remaining/
		 * resetAt) and each limit behind it, for GET /accounts/:id statistics.sendQuota.
		 */
		sendQuota: {
			visibility: "public",
			params: QuotaParams,
			async handler(ctx: XContext<Static<typeof QuotaParams>>) {
				const merchantId = merchantOf(ctx);
				const account = await AccountModel.findOne({ _id: ctx.params.accountId, merchantId }, { _id: 1 }).lean();
				if (!account) throw new NotFoundError("Account");
				const { limits, remaining } = await this.quota({ merchantId, accountId: ctx.params.accountId, kind: "agent" });
				const headline = limits.find(l => l.name === "account_daily")!;
				return {
					limit: headline.limit,
					used: headline.used,
					remaining: headline.remaining,
					resetAt: headline.resetAt,
					remainingNow: remaining,
					limits,
				};
			},
		},

		/** A dry run for planners (campaigns): may a send of `kind` go now, and how many more? */
		checkSendAllowed: {
			visibility: "public",
			params: CheckParams,
			async handler(ctx: XContext<Static<typeof CheckParams>>) {
				const merchantId = merchantOf(ctx);
				const account = await AccountModel.findOne({ _id: ctx.params.accountId, merchantId }, { _id: 1 }).lean();
				if (!account) throw new NotFoundError("Account");
				const ref: SendRef = { merchantId, accountId: ctx.params.accountId, kind: ctx.params.kind };
				const { rules, limits, remaining } = await this.quota(ref);
				const violations = await this.ledger.check(ref, rules);
				return {
					allowed: violations.length === 0,
					remaining,
					retryAt: violations.length ? retryAtOf(violations).toISOString() : null,
					limits,
				};
			},
		},
	},
});

export default XService;
