import { Agent } from "node:https";
import tls from "node:tls";
import { TwitterApi, type ITwitterApiClientPlugin } from "twitter-api-v2";

// The one way this project talks to X: twitter-api-v2 with OAuth 1.0a user context (the app's
// consumer key and secret, the account's token and token secret). Two plugins ride on every
// request: one redirects X's hosts to X_API_BASE_URL (the sandbox in tests and local runs), one
// gives each request a timeout. TLS trust is decided here, once per process.

/** The hosts twitter-api-v2 calls: API and media upload, old and new names. */
const X_HOSTS = new Set(["api.x.com", "api.twitter.com", "upload.x.com", "upload.twitter.com"]);

/** twitter-api-v2's v1.1 endpoints that take JSON (the others take a form). */
const JSON_1_1_ENDPOINTS = new Set([
	"direct_messages/events/new.json",
	"direct_messages/welcome_messages/new.json",
	"direct_messages/welcome_messages/rules/new.json",
	"media/metadata/create.json",
	"collections/entries/curate.json",
]);

export interface XAppSettings {
	consumerKey: string;
	consumerSecret: string;
	/** Where X's hosts are sent instead (https only); null: the real X. */
	apiBaseUrl: string | null;
	/** PEM of the only CA trusted (the sandbox's self-signed certificate); null: system CAs. */
	caPem: string | null;
	timeoutMs: number;
}

export interface XUserTokens {
	accessToken: string;
	accessSecret: string;
}

export type XClientFactory = (tokens: XUserTokens) => TwitterApi;

/**
 * The body encoding twitter-api-v2 picks from X's own URL. It reads the host and path of the
 * URL it is given, so once the URL points elsewhere the choice is made here, from the original.
 */
export function bodyModeFor(original: URL): "json" | "url" | "form-data" {
	if (original.pathname.startsWith("/2/oauth2")) return "url";
	if (original.pathname.startsWith("/2/") || original.pathname.startsWith("/labs/2/")) return "json";
	if (original.hostname.startsWith("upload.")) return original.pathname === "/1.1/media/upload.json" ? "form-data" : "json";
	const endpoint = original.pathname.split("/1.1/", 2)[1];
	return endpoint && JSON_1_1_ENDPOINTS.has(endpoint) ? "json" : "url";
}

/** Sends every request for an X host to `baseUrl` instead, same path and query. */
export function redirectPlugin(baseUrl: string): ITwitterApiClientPlugin {
	const base = new URL(baseUrl);
	const prefix = base.pathname.replace(/\/+$/, "");
	return {
		onBeforeRequestConfig({ params }) {
			const original = new URL(params.url.startsWith("http") ? params.url : `https://${params.url}`);
			if (!X_HOSTS.has(original.hostname)) return;
			params.forceBodyMode ??= bodyModeFor(original);
			// The OAuth signature is computed after this hook, over the URL actually requested.
			params.url = `${base.origin}${prefix}${original.pathname}${original.search}`;
		},
	};
}

export function timeoutPlugin(timeoutMs: number): ITwitterApiClientPlugin {
	return {
		onBeforeRequestConfig({ params }) {
			params.timeout ??= timeoutMs;
		},
	};
}

let systemTrust: string[] | null = null;

/**
 * Node's default CAs (its bundled store plus NODE_EXTRA_CA_CERTS) and the operating system's,
 * so a corporate proxy's CA installed on the machine is trusted as the issue asks.
 */
function systemCas(): string[] | undefined {
	const get = (tls as unknown as { getCACertificates?: (type: string) => string[] }).getCACertificates;
	if (!get) return undefined; // older Node: its defaults (bundled + NODE_EXTRA_CA_CERTS)
	if (!systemTrust) {
		let system: string[] = [];
		try {
			system = get("system");
		} catch {
			// no readable system store: the defaults alone
		}
		systemTrust = [...new Set([...get("default"), ...system])];
	}
	return systemTrust;
}

const agents = new Map<string, Agent>();

/** One keep-alive agent per trust setting; never one that accepts any certificate. */
export function agentFor(caPem: string | null): Agent {
	const key = caPem ?? "system";
	let agent = agents.get(key);
	if (!agent) {
		agent = new Agent({ keepAlive: true, maxSockets: 50, ca: caPem ?? systemCas() });
		agents.set(key, agent);
	}
	return agent;
}

/** Builds the per-account client maker the x service uses. */
export function createXClientFactory(app: XAppSettings): XClientFactory {
	const plugins: ITwitterApiClientPlugin[] = [timeoutPlugin(app.timeoutMs)];
	if (app.apiBaseUrl) plugins.push(redirectPlugin(app.apiBaseUrl));
	const httpAgent = agentFor(app.caPem);
	return tokens =>
		new TwitterApi(
			{ appKey: app.consumerKey, appSecret: app.consumerSecret, accessToken: tokens.accessToken, accessSecret: tokens.accessSecret },
			{ plugins, httpAgent }
		);
}
