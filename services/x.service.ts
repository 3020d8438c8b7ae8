import { readFileSync } from "node:fs";
import type { Context, ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import type { TwitterApi } from "twitter-api-v2";
import { DbMixin } from "../mixins/db.mixin.ts";
import type { RequestMeta } from "../mixins/tenant.mixin.ts";
import { AccountModel, type Account } from "../models/account.model.ts";
import { SEND_KINDS, SendLedgerModel } from "../models/send-ledger.model.ts";
import { config } from "../lib/config.ts";
import { decryptSecret } from "../lib/crypto.ts";
import { BadRequestError, ConflictError, NotFoundError, RateLimitedError, UnauthorizedError, UpstreamUnavailableError } from "../lib/errors.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { createXClientFactory, type XClientFactory } from "../lib/x/client.ts";
import { classifyXError, XDeliveryUnknownError, XNotConfiguredError, XRejectedError, type XFailure } from "../lib/x/errors.ts";
import { fetchMedia } from "../lib/x/media.ts";
import type { XSandbox } from "../sandbox/x-sandbox.ts";
import { SendLedger, type SendRef } from "./x/send-ledger.ts";
import { retryAtOf, rulesFor, violationMessage, type Violation } from "./x/send-limits.ts";

// The only service that talks to X. Internal actions (no REST route): accounts call
// verifyCredentials, the inbox, the bot, campaigns and flows call sendDirectMessage, and every
// send goes through the shared send limits first. X's refusals come back as our errors, never
// as a 500: 400 INVALID_OAUTH_CREDENTIALS, 429 RATE_LIMITED (ours or X's, with retryAfter),
// 422 X_REJECTED (with X's reason), 503 UPSTREAM_UNAVAILABLE (nothing was sent, retryable) or
// 503 X_DELIVERY_UNKNOWN (the DM may have gone out; never retried blindly).

const MerchantId = Type.String({ minLength: 1, maxLength: 100, description: "Defaults to ctx.meta.merchantId" });

const VerifyParams = Strict({
	oauthToken: Type.String({ minLength: 1, maxLength: 200 }),
	oauthTokenSecret: Type.String({ minLength: 1, maxLength: 200 }),
});

const SendParams = Strict({
	merchantId: Type.Optional(MerchantId),
	accountId: Id(),
	recipientTwitterUserId: Type.String({ pattern: "^[0-9]{1,19}$" }),
	text: Type.String({ minLength: 1, maxLength: 10_000 }),
	mediaUrl: Type.Optional(Type.String({ format: "uri", maxLength: 2048 })),
	kind: StringEnum(SEND_KINDS),
});

const QuotaParams = Strict({ merchantId: Type.Optional(MerchantId), accountId: Id() });

const CheckParams = Strict({
	merchantId: Type.Optional(MerchantId),
	accountId: Id(),
	kind: StringEnum(SEND_KINDS, { default: "agent" }),
});

type XContext<P> = Context<P, RequestMeta>;

/** The merchant a call acts for: its params, or the caller's meta; the two may not disagree. */
function merchantFor(ctx: XContext<{ merchantId?: string }>): string {
	const fromParams = ctx.params.merchantId;
	const fromMeta = ctx.meta.merchantId;
	if (fromParams && fromMeta && fromParams !== fromMeta) throw new NotFoundError("Account");
	const merchantId = fromParams ?? fromMeta;
	if (!merchantId) throw new UnauthorizedError("No merchant in the request");
	return merchantId;
}

function limitError(violations: Violation[], now: Date): RateLimitedError {
	const retryAt = retryAtOf(violations);
	return new RateLimitedError(violationMessage(violations), (retryAt.getTime() - now.getTime()) / 1000, {
		source: "mkt-x",
		limits: violations.map(v => v.rule.name),
		retryAt: retryAt.toISOString(),
	});
}

function xRateLimitError(failure: Extract<XFailure, { kind: "rate_limited" }>): RateLimitedError {
	return new RateLimitedError(`X is rate limiting this account (${failure.window}) until ${failure.resetAt.toISOString()}`, failure.retryAfterSeconds, {
		source: "x",
		limits: [failure.window],
		retryAt: failure.resetAt.toISOString(),
	});
}

const XService: ServiceSchema = {
	name: "x",
	mixins: [DbMixin([SendLedgerModel])],

	created() {
		this.sandbox = null as XSandbox | null;
		this.clientFor = null as XClientFactory | null;
		this.ledger = new SendLedger({ clock: () => this.now() });
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
			this.clientFor = createXClientFactory({ consumerKey: cfg.x.consumerKey, consumerSecret: cfg.x.consumerSecret, apiBaseUrl, caPem, timeoutMs: cfg.x.timeoutMs });
		} else {
			this.logger.warn("X_CONSUMER_KEY / X_CONSUMER_SECRET are not set: calls to X will answer 503 X_NOT_CONFIGURED");
		}
	},

	async stopped() {
		await this.sandbox?.stop();
	},

	methods: {
		/** The service's clock; tests replace it. */
		now(): Date {
			return new Date();
		},

		client(tokens: { accessToken: string; accessSecret: string }): TwitterApi {
			if (!this.clientFor) throw new XNotConfiguredError();
			return (this.clientFor as XClientFactory)(tokens);
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

		async quota(ref: SendRef) {
			const rules = rulesFor(ref.kind, config().sendLimits);
			const usage = await (this.ledger as SendLedger).usage(ref, rules);
			const limits = usage.map(u => ({ ...u, resetAt: u.resetAt?.toISOString() ?? null }));
			return { rules, limits, remaining: Math.min(...usage.map(u => u.remaining)) };
		},
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
					return { twitterUserId: data.id, username: data.username, displayName: data.name ?? data.username, profileImageUrl: data.profile_image_url ?? null };
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
			async handler(ctx: XContext<Static<typeof SendParams>>) {
				const { accountId, recipientTwitterUserId, text, mediaUrl, kind } = ctx.params;
				const merchantId = merchantFor(ctx);
				const account = await this.activeAccount(merchantId, accountId);
				const client = this.client(this.tokensOf(account));
				const ledger = this.ledger as SendLedger;
				const ref: SendRef = { merchantId, accountId, kind };
				const rules = rulesFor(kind, config().sendLimits);

				// Refuse before fetching an image when the limits are already reached.
				const early = await ledger.check(ref, rules);
				if (early.length) throw limitError(early, this.now());
				const { maxBytes, fetchTimeoutMs, allowPrivateHosts } = config().media;
				const media = mediaUrl ? await fetchMedia(mediaUrl, { maxBytes, timeoutMs: fetchTimeoutMs, allowPrivateHosts }) : null;

				const claim = await ledger.claim(ref, rules);
				if (!claim.allowed) throw limitError(claim.violations, this.now());

				let stage: "media" | "send" = "media";
				try {
					let mediaId: string | undefined;
					if (media) {
						mediaId = await client.v2.uploadMedia(media.bytes, { media_type: media.mediaType, media_category: media.mediaType === "image/gif" ? "dm_gif" : "dm_image" });
					}
					stage = "send";
					const res = await client.v2.sendDmToParticipant(recipientTwitterUserId, mediaId ? { text, attachments: [{ media_id: mediaId }] } : { text });
					// X answers {data: {...}}; the library's type shows the inner object.
					const data = ((res as unknown as { data?: typeof res }).data ?? res) as typeof res;
					await ledger.markSent(claim.id, data.dm_event_id);
					return { twitterMessageId: data.dm_event_id, dmConversationId: data.dm_conversation_id, sentAt: this.now().toISOString() };
				} catch (err) {
					const failure = classifyXError(err, this.now().getTime());
					const mayHaveGone = stage === "send" && failure.kind === "uncertain";
					// A send X did not take stops counting; one that may have gone keeps its slot.
					if (!mayHaveGone) await ledger.release(claim.id, failure.reason).catch(e => this.logger.warn("could not release a send slot", e));
					if (failure.kind === "rate_limited") throw xRateLimitError(failure);
					if (failure.kind === "rejected") throw new XRejectedError(failure.reason, failure.status, failure.xCode);
					if (mayHaveGone) throw new XDeliveryUnknownError(failure.reason);
					throw new UpstreamUnavailableError(`X could not be reached: ${failure.reason}`);
				}
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
				const merchantId = merchantFor(ctx);
				const account = await AccountModel.findOne({ _id: ctx.params.accountId, merchantId }, { _id: 1 }).lean();
				if (!account) throw new NotFoundError("Account");
				const { limits, remaining } = await this.quota({ merchantId, accountId: ctx.params.accountId, kind: "agent" });
				const headline = limits.find((l: { name: string }) => l.name === "account_daily")!;
				return { limit: headline.limit, used: headline.used, remaining: headline.remaining, resetAt: headline.resetAt, remainingNow: remaining, limits };
			},
		},

		/** A dry run for planners (campaigns): may a send of `kind` go now, and how many more? */
		checkSendAllowed: {
			visibility: "public",
			params: CheckParams,
			async handler(ctx: XContext<Static<typeof CheckParams>>) {
				const merchantId = merchantFor(ctx);
				const account = await AccountModel.findOne({ _id: ctx.params.accountId, merchantId }, { _id: 1 }).lean();
				if (!account) throw new NotFoundError("Account");
				const ref: SendRef = { merchantId, accountId: ctx.params.accountId, kind: ctx.params.kind };
				const { rules, limits, remaining } = await this.quota(ref);
				const violations = await (this.ledger as SendLedger).check(ref, rules);
				return {
					allowed: violations.length === 0,
					remaining,
					retryAt: violations.length ? retryAtOf(violations).toISOString() : null,
					limits,
				};
			},
		},
	},
};

// Fetching an image, uploading it and sending can take longer than the broker's default request
// timeout. Moleculer honours an action's own timeout (middlewares/timeout.js); its types omit it.
(XService.actions!.sendDirectMessage as Record<string, unknown>).timeout = 60_000;

export default XService;
