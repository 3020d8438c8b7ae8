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
		x: {
			apiBaseUrl: env.X_API_BASE_URL || null,
			consumerKey: env.X_CONSUMER_KEY || "",
			consumerSecret: env.X_CONSUMER_SECRET || "",
			sandbox: bool(env, "X_SANDBOX", false),
		},
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
