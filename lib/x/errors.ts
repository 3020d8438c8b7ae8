import { ApiPartialResponseError, ApiRequestError, ApiResponseError } from "twitter-api-v2";
import type { IncomingHttpHeaders } from "node:http";
import { ApiError } from "../errors.ts";

// What went wrong when calling X, sorted by what the caller may do about it. The x service turns
// each kind into one of our errors; none of them is ever a 500.

export type XFailure =
	/** X's 429: nothing was done; try again after `retryAfterSeconds`. */
	| { kind: "rate_limited"; status: 429; retryAfterSeconds: number; resetAt: Date; window: string; reason: string }
	/** X answered 4xx: it refused the request (bad token, blocked DMs, bad media); nothing was done. */
	| { kind: "rejected"; status: number; reason: string; xCode?: string | number }
	/** X could not be reached (connection refused, DNS, TLS): the request never left. */
	| { kind: "unreachable"; reason: string }
	/** X answered 5xx (an outage): it did not take the request; worth trying again later. */
	| { kind: "unavailable"; status: number; reason: string }
	/** The request may have reached X (timeout, connection cut mid-answer): its effect is unknown. */
	| { kind: "uncertain"; status?: number; reason: string };

/** Network errors that happen before a byte of the request is written. */
const BEFORE_SENDING = new Set([
	"ECONNREFUSED",
	"ENOTFOUND",
	"EAI_AGAIN",
	"EHOSTUNREACH",
	"ENETUNREACH",
	"DEPTH_ZERO_SELF_SIGNED_CERT",
	"SELF_SIGNED_CERT_IN_CHAIN",
	"UNABLE_TO_VERIFY_LEAF_SIGNATURE",
	"UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
	"CERT_HAS_EXPIRED",
	"CERT_NOT_YET_VALID",
	"ERR_TLS_CERT_ALTNAME_INVALID",
]);

function header(headers: IncomingHttpHeaders | undefined, name: string): number | null {
	const raw = headers?.[name];
	const value = Number(Array.isArray(raw) ? raw[0] : raw);
	return raw !== undefined && Number.isFinite(value) ? value : null;
}

/**
 * When X's 429 frees up, from its headers: the latest reset among the limits it says are used
 * up (15-minute endpoint limit, the user's and the app's 24-hour limits); `retry-after` or the
 * endpoint reset otherwise; 15 minutes when X said nothing.
 */
export function retryFromRateLimitHeaders(headers: IncomingHttpHeaders | undefined, nowMs: number): { resetAt: Date; window: string } {
	const windows = [
		{ window: "x_endpoint_15min", prefix: "x-rate-limit" },
		{ window: "x_user_24hour", prefix: "x-user-limit-24hour" },
		{ window: "x_app_24hour", prefix: "x-app-limit-24hour" },
	].map(w => ({ window: w.window, remaining: header(headers, `${w.prefix}-remaining`), reset: header(headers, `${w.prefix}-reset`) }));
	const exhausted = windows.filter(w => w.remaining === 0 && w.reset !== null).sort((a, b) => b.reset! - a.reset!);
	if (exhausted.length) return { resetAt: new Date(exhausted[0].reset! * 1000), window: exhausted[0].window };
	const retryAfter = header(headers, "retry-after");
	if (retryAfter !== null) return { resetAt: new Date(nowMs + retryAfter * 1000), window: "x_retry_after" };
	const endpointReset = windows[0].reset;
	if (endpointReset !== null) return { resetAt: new Date(endpointReset * 1000), window: "x_endpoint_15min" };
	return { resetAt: new Date(nowMs + 15 * 60_000), window: "x_unknown" };
}

/** X's own words for a refusal: v2 problem detail, v2 errors[], or v1 errors[]. */
export function reasonOf(data: unknown, fallback: string): { reason: string; xCode?: string | number } {
	const d = (data ?? {}) as {
		detail?: string;
		title?: string;
		type?: string;
		errors?: { message?: string; detail?: string; code?: number }[];
	};
	const first = Array.isArray(d.errors) ? d.errors[0] : undefined;
	const reason = d.detail || first?.message || first?.detail || d.title || fallback;
	const xCode = first?.code ?? (d.type && d.type !== "about:blank" ? d.type : undefined);
	return { reason: String(reason).slice(0, 500), xCode };
}

export function classifyXError(err: unknown, nowMs: number): XFailure {
	if (err instanceof ApiResponseError) {
		const status = err.code;
		const { reason, xCode } = reasonOf(err.data, `X answered ${status}`);
		if (status === 429) {
			const { resetAt, window } = retryFromRateLimitHeaders(err.headers, nowMs);
			return {
				kind: "rate_limited",
				status: 429,
				retryAfterSeconds: Math.max(1, Math.ceil((resetAt.getTime() - nowMs) / 1000)),
				resetAt,
				window,
				reason,
			};
		}
		if (status >= 400 && status < 500) return { kind: "rejected", status, reason, xCode };
		if (status >= 500) return { kind: "unavailable", status, reason };
		return { kind: "uncertain", status, reason };
	}
	if (err instanceof ApiRequestError) {
		const cause = err.requestError as NodeJS.ErrnoException | undefined;
		const code = cause?.code ?? "";
		const reason = `${cause?.message || "request failed"}${code ? ` (${code})` : ""}`;
		return BEFORE_SENDING.has(code) ? { kind: "unreachable", reason } : { kind: "uncertain", reason };
	}
	if (err instanceof ApiPartialResponseError) return { kind: "uncertain", reason: err.message };
	return { kind: "uncertain", reason: err instanceof Error ? err.message : String(err) };
}

/** X refused a send: the caller marks its message failed with X's reason. */
export class XRejectedError extends ApiError {
	constructor(reason: string, xStatus: number, xCode?: string | number) {
		super(`X refused the request: ${reason}`, 422, "X_REJECTED", { reason, xStatus, ...(xCode !== undefined ? { xCode } : {}) });
	}
}

/**
 * The DM may or may not have reached X (a timeout or a cut connection after it was sent). Not
 * retryable on purpose: a blind retry could send the customer the same message twice.
 */
export class XDeliveryUnknownError extends ApiError {
	constructor(reason: string) {
		super(`X did not confirm the message: ${reason}`, 503, "X_DELIVERY_UNKNOWN", { reason });
	}
}

/** No consumer key and secret configured (and no sandbox): nothing can be sent. */
export class XNotConfiguredError extends ApiError {
	constructor() {
		super("X is not configured: set X_CONSUMER_KEY and X_CONSUMER_SECRET, or X_SANDBOX=1", 503, "X_NOT_CONFIGURED");
	}
}
