// Every environment variable the service reads is read here, once, and checked at start.
// The README's configuration table lists the same names with the same defaults.

export type Config = ReturnType<typeof loadConfig>;

export class ConfigError extends Error {}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
	const raw = env[name];
	if (raw === undefined || raw === "") return fallback;
	const value = Number(raw);
	if (!Number.isInteger(value) || value < min) {
		throw new ConfigError(`${name} must be a whole number >= ${min}, got "${raw}"`);
	}
	return value;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
	const raw = env[name];
	if (raw === undefined || raw === "") return fallback;
	if (/^(1|true|yes|on)$/i.test(raw)) return true;
	if (/^(0|false|no|off)$/i.test(raw)) return false;
	throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

function list(env: NodeJS.ProcessEnv, name: string): string[] {
	return (env[name] ?? "")
		.split(",")
		.map(s => s.trim())
		.filter(Boolean);
}

/** What a customer writes to stop automated messages; matched case- and accent-insensitively. */
export const DEFAULT_OPT_OUT_KEYWORDS = ["stop", "unsubscribe", "hủy", "dừng", "hủy đăng ký", "dừng lại"];

/**
 * The Claude models a merchant may pick for the AI chatbot when AI_MODELS is unset: the ids the
 * installed @anthropic-ai/sdk's `Model` type names, less those the SDK marks deprecated.
 * services/ai/settings.ts checks this list against the SDK's type at type-check time.
 */
export const DEFAULT_AI_MODELS = [
	"claude-haiku-4-5",
	"claude-haiku-4-5-20251001",
	"claude-sonnet-4-6",
	"claude-opus-4-6",
	"claude-opus-4-7",
	"claude-opus-4-8",
	"claude-opus-5",
	"claude-sonnet-5",
	"claude-fable-5",
	"claude-mythos-5",
	"claude-fable-5-1",
	"claude-mythos-5-1",
	"claude-opus-5-5",
	"claude-sonnet-5-5",
	"claude-haiku-5-5",
	"claude-fable-5-2",
	"claude-mythos-5-2",
] as const;

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace"] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

export function loadConfig(env: NodeJS.ProcessEnv = process.env) {
	const nodeEnv = env.NODE_ENV || "development";
	const isDev = nodeEnv === "development" || nodeEnv === "test";

	const logLevel = (env.LOG_LEVEL || "info") as LogLevel;
	if (!LOG_LEVELS.includes(logLevel)) {
		throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}`);
	}

	const jwtSecret = env.JWT_SECRET || (isDev ? "mkt-x-development-secret-change-me" : "");
	const jwtPublicKey = env.JWT_PUBLIC_KEY || "";
	if (!jwtSecret && !jwtPublicKey) {
		throw new ConfigError("JWT_SECRET or JWT_PUBLIC_KEY is required outside development");
	}

	const encryptionKey = env.ENCRYPTION_KEY || (isDev ? "0".repeat(63) + "1" : "");
	if (!/^[0-9a-fA-F]{64}$/.test(encryptionKey)) {
		throw new ConfigError("ENCRYPTION_KEY must be 32 bytes written as 64 hex characters (openssl rand -hex 32)");
	}

	return {
		nodeEnv,
		isDev,
		nodeID: env.NODE_ID || undefined,
		/** Nodes of one deployment share it; another deployment on the same NATS uses its own. */
		namespace: env.MOLECULER_NAMESPACE || "mkt-x",
		services: list(env, "SERVICES"),
		port: int(env, "PORT", 5000),
		transporter: env.TRANSPORTER || null,
		logLevel,
		requestTimeoutMs: int(env, "REQUEST_TIMEOUT_MS", 10_000, 1),
		metrics: {
			enabled: bool(env, "METRICS_ENABLED", false),
			port: int(env, "METRICS_PORT", 3030),
		},
		tracingEnabled: bool(env, "TRACING_ENABLED", false),
		mongoUrl: env.MONGO_URL || null,
		dataDir: env.DATA_DIR || "./data",
		ferretdbPort: int(env, "FERRETDB_PORT", 27017, 1),
		ferretdb: embeddedEngineConfig(env),
		corsOrigins: list(env, "CORS_ORIGINS"),
		jwt: {
			secret: jwtPublicKey ? "" : jwtSecret,
			publicKey: jwtPublicKey,
			issuer: env.JWT_ISSUER || undefined,
			audience: env.JWT_AUDIENCE || undefined,
			/** The public development secret signs tokens: the console may hand them out (dev sign-in). */
			developmentSecret: !jwtPublicKey && !env.JWT_SECRET && isDev,
		},
		encryptionKey: Buffer.from(encryptionKey, "hex"),
		rateLimit: {
			apiPerMinute: int(env, "RATE_LIMIT_API_PER_MINUTE", 100, 1),
			webhookEventsPerMinute: int(env, "RATE_LIMIT_WEBHOOK_EVENTS_PER_MINUTE", 1000, 1),
			redirectsPerMinute: int(env, "RATE_LIMIT_REDIRECTS_PER_MINUTE", 60, 1),
			kvBucket: env.RATE_LIMIT_KV_BUCKET || "mktx_rate_limits",
		},
		optOutKeywords: list(env, "OPT_OUT_KEYWORDS").length ? list(env, "OPT_OUT_KEYWORDS") : DEFAULT_OPT_OUT_KEYWORDS,
		x: xConfig(env, isDev),
		sendLimits: sendLimitsConfig(env),
		media: mediaConfig(env),
		/** Where people reach this service from outside (tracking links in campaign messages). */
		publicBaseUrl: publicBaseUrl(env),
		/** Set explicitly: the reference page's server is then this URL rather than the page's own origin. */
		publicBaseUrlGiven: Boolean(env.PUBLIC_BASE_URL),
		campaigns: campaignsConfig(env),
		inbox: inboxConfig(env),
		ai: aiConfig(env),
		queryGuard: queryGuardConfig(env),
		outboundWebhooks: outboundWebhooksConfig(env),
	};
}

const QUERY_GUARD_MODES = ["off", "warn", "strict"] as const;

/** The query guard (lib/query-guard.ts, docs/indexes.md): on in the tests, off in production. */
function queryGuardConfig(env: NodeJS.ProcessEnv) {
	const mode = (env.QUERY_GUARD || "off") as (typeof QUERY_GUARD_MODES)[number];
	if (!QUERY_GUARD_MODES.includes(mode))
		throw new ConfigError(`QUERY_GUARD must be one of ${QUERY_GUARD_MODES.join(", ")}, got "${env.QUERY_GUARD}"`);
	return { mode, logFile: env.QUERY_GUARD_LOG || null };
}

/** The consumer key and secret `X_SANDBOX=1` uses when none are set (the sandbox knows them). */
export const SANDBOX_CONSUMER_KEY = "mktx-sandbox-consumer-key";
export const SANDBOX_CONSUMER_SECRET = "mktx-sandbox-consumer-secret";

function xConfig(env: NodeJS.ProcessEnv, isDev: boolean) {
	const sandbox = bool(env, "X_SANDBOX", false);
	// The sandbox's default consumer secret is public: webhooks signed with it would be forgeable.
	if (sandbox && !isDev) throw new ConfigError("X_SANDBOX is for development and tests only (NODE_ENV is not development or test)");
	const apiBaseUrl = env.X_API_BASE_URL || null;
	if (apiBaseUrl) {
		let url: URL | null = null;
		try {
			url = new URL(apiBaseUrl);
		} catch {
			// reported below
		}
		// twitter-api-v2 speaks HTTPS only.
		if (!url || url.protocol !== "https:") throw new ConfigError(`X_API_BASE_URL must be an https:// URL, got "${apiBaseUrl}"`);
	}
	return {
		apiBaseUrl,
		consumerKey: env.X_CONSUMER_KEY || (sandbox ? SANDBOX_CONSUMER_KEY : ""),
		consumerSecret: env.X_CONSUMER_SECRET || (sandbox ? SANDBOX_CONSUMER_SECRET : ""),
		sandbox,
		/** PEM file of the only CA the X client trusts (the sandbox's); unset: system CAs. */
		caFile: env.X_API_CA_FILE || null,
		timeoutMs: int(env, "X_API_TIMEOUT_MS", 10_000, 100),
		sandboxPort: int(env, "X_SANDBOX_PORT", 5443),
		sandboxWebhookUrl: env.X_SANDBOX_WEBHOOK_URL || null,
	};
}

function percent(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
	const value = int(env, name, fallback, min);
	if (value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got "${env[name]}"`);
	return value;
}

/** Sends to X, counted across every node and sender (services/x/send-limits.ts). */
function sendLimitsConfig(env: NodeJS.ProcessEnv) {
	return {
		accountPerDay: int(env, "SEND_LIMIT_ACCOUNT_PER_DAY", 500),
		userPer15Min: int(env, "SEND_LIMIT_USER_PER_15MIN", 15),
		userPerDay: int(env, "SEND_LIMIT_USER_PER_DAY", 1440),
		appPerDay: int(env, "SEND_LIMIT_APP_PER_DAY", 1440),
		merchantSharePercent: percent(env, "SEND_LIMIT_MERCHANT_SHARE_PERCENT", 50, 1, 100),
		replyReservePercent: percent(env, "SEND_LIMIT_REPLY_RESERVE_PERCENT", 20, 0, 99),
	};
}

/** Images fetched by URL to attach to a DM. */
function mediaConfig(env: NodeJS.ProcessEnv) {
	return {
		maxBytes: int(env, "MEDIA_MAX_BYTES", 5 * 1024 * 1024, 1),
		fetchTimeoutMs: int(env, "MEDIA_FETCH_TIMEOUT_MS", 10_000, 100),
		allowPrivateHosts: bool(env, "MEDIA_ALLOW_PRIVATE_HOSTS", false),
	};
}

/** The AI chatbot (services/ai.service.ts): Claude when a key is set, else the built-in classifier. */
function aiConfig(env: NodeJS.ProcessEnv) {
	const baseUrl = env.ANTHROPIC_BASE_URL || null;
	if (baseUrl && !/^https?:\/\/[^/]/.test(baseUrl)) throw new ConfigError(`ANTHROPIC_BASE_URL must be an http(s):// URL, got "${baseUrl}"`);
	const models = list(env, "AI_MODELS");
	const maxRetries = int(env, "AI_MAX_RETRIES", 1);
	if (maxRetries > 5) throw new ConfigError(`AI_MAX_RETRIES must be between 0 and 5, got "${env.AI_MAX_RETRIES}"`);
	const contextMessages = int(env, "AI_CONTEXT_MESSAGES", 10);
	if (contextMessages > 50) throw new ConfigError(`AI_CONTEXT_MESSAGES must be between 0 and 50, got "${env.AI_CONTEXT_MESSAGES}"`);
	return {
		apiKey: env.ANTHROPIC_API_KEY || null,
		baseUrl,
		models: models.length ? models : [...DEFAULT_AI_MODELS],
		timeoutMs: int(env, "AI_TIMEOUT_MS", 6000, 100),
		maxRetries,
		contextMessages,
	};
}

/** Events pushed to the merchants' own URLs (services/outbound-webhooks.service.ts). */
function outboundWebhooksConfig(env: NodeJS.ProcessEnv) {
	const concurrency = int(env, "WEBHOOK_CONCURRENCY", 10, 1);
	const timeoutMs = int(env, "WEBHOOK_TIMEOUT_MS", 10_000, 100);
	// the test ping waits for its attempt inside a 30 s call
	if (timeoutMs > 25_000) throw new ConfigError(`WEBHOOK_TIMEOUT_MS must be between 100 and 25000, got "${env.WEBHOOK_TIMEOUT_MS}"`);
	if (concurrency > 100) throw new ConfigError(`WEBHOOK_CONCURRENCY must be between 1 and 100, got "${env.WEBHOOK_CONCURRENCY}"`);
	return {
		/** Loopback and private targets (and plain http to loopback) are accepted: tests only. */
		allowPrivateHosts: bool(env, "WEBHOOK_ALLOW_PRIVATE_HOSTS", false),
		/** PEM of a CA trusted for deliveries besides the system's (a receiver's own CA, the tests'). */
		caFile: env.WEBHOOK_CA_FILE || null,
		timeoutMs,
		/** Deliveries one node sends at the same time. */
		concurrency,
		/** How often a worker looks for due deliveries it was not told about (retries, other nodes' events). */
		pollMs: int(env, "WEBHOOK_POLL_MS", 1000, 10),
	};
}

function publicBaseUrl(env: NodeJS.ProcessEnv): string {
	const raw = env.PUBLIC_BASE_URL || "http://localhost:5000";
	if (!/^https?:\/\/[^/]/.test(raw)) throw new ConfigError(`PUBLIC_BASE_URL must be an http(s):// URL, got "${raw}"`);
	return raw.replace(/\/+$/, "");
}

/** Campaign sending (services/campaigns.service.ts). */
function inboxConfig(env: NodeJS.ProcessEnv) {
	return {
		/** Accounts one node's inbox writes at the same time (each by one writer across all nodes). */
		writers: int(env, "INBOX_WRITERS", 2, 1),
		/** Queued activity rows one writer applies per batch. */
		batchSize: int(env, "INBOX_BATCH_SIZE", 100, 1),
		/** How long a conversation action (close, assign, escalate) waits for the writer to apply it. */
		actionWaitMs: int(env, "INBOX_ACTION_WAIT_MS", 5000, 1),
	};
}

function campaignsConfig(env: NodeJS.ProcessEnv) {
	return {
		/** An inbound message this long after a campaign message counts as its reply. */
		replyWindowHours: int(env, "CAMPAIGN_REPLY_WINDOW_HOURS", 72, 1),
		/** Recipients a worker takes at a time. */
		batchSize: int(env, "CAMPAIGN_BATCH_SIZE", 20, 1),
		/** A send claimed this long ago without an outcome (its worker died) ends `unknown`. */
		unknownAfterSeconds: int(env, "CAMPAIGN_UNKNOWN_AFTER_SECONDS", 300, 1),
	};
}

export const FERRETDB_HANDLERS = ["auto", "postgresql", "sqlite"] as const;
export const DEFAULT_FERRETDB_POSTGRESQL_URL = "postgres://postgres@127.0.0.1:5432/mktx";

/** The embedded FerretDB (lib/ferretdb.ts), used when MONGO_URL is unset. */
function embeddedEngineConfig(env: NodeJS.ProcessEnv) {
	const handler = (env.FERRETDB_HANDLER || "auto") as (typeof FERRETDB_HANDLERS)[number];
	if (!FERRETDB_HANDLERS.includes(handler)) {
		throw new ConfigError(`FERRETDB_HANDLER must be one of ${FERRETDB_HANDLERS.join(", ")}, got "${env.FERRETDB_HANDLER}"`);
	}
	const postgresqlUrl = env.FERRETDB_POSTGRESQL_URL || DEFAULT_FERRETDB_POSTGRESQL_URL;
	let url: URL | null = null;
	try {
		url = new URL(postgresqlUrl);
	} catch {
		// reported below
	}
	if (!url || !/^postgres(ql)?:$/.test(url.protocol) || url.pathname.length < 2) {
		// Never echo the value: it may hold a password.
		throw new ConfigError("FERRETDB_POSTGRESQL_URL must be a postgres://user[:password]@host[:port]/database URL");
	}
	return { handler, postgresqlUrl };
}

let current: Config | null = null;

/** The configuration of this process, loaded from the environment on first use. */
export function config(): Config {
	if (!current) current = loadConfig();
	return current;
}

/** Reads the environment again (the start script after it starts the database; tests). */
export function resetConfig(): Config {
	current = loadConfig();
	return current;
}
