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
		throw new ConfigError(
			"ENCRYPTION_KEY must be 32 bytes written as 64 hex characters (openssl rand -hex 32)"
		);
	}

	return {
		nodeEnv,
		isDev,
		nodeID: env.NODE_ID || undefined,
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
		corsOrigins: list(env, "CORS_ORIGINS"),
		jwt: {
			secret: jwtPublicKey ? "" : jwtSecret,
			publicKey: jwtPublicKey,
			issuer: env.JWT_ISSUER || undefined,
			audience: env.JWT_AUDIENCE || undefined,
		},
		encryptionKey: Buffer.from(encryptionKey, "hex"),
		rateLimit: {
			apiPerMinute: int(env, "RATE_LIMIT_API_PER_MINUTE", 100, 1),
			webhookEventsPerMinute: int(env, "RATE_LIMIT_WEBHOOK_EVENTS_PER_MINUTE", 1000, 1),
			kvBucket: env.RATE_LIMIT_KV_BUCKET || "mktx_rate_limits",
		},
		optOutKeywords: list(env, "OPT_OUT_KEYWORDS").length ? list(env, "OPT_OUT_KEYWORDS") : DEFAULT_OPT_OUT_KEYWORDS,
		x: xConfig(env, isDev),
		sendLimits: sendLimitsConfig(env),
		media: mediaConfig(env),
	};
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
