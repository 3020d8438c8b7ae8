import type { ErrorDetail } from "./errors.ts";
import { localize, type Locale } from "./i18n.ts";
import { localizeDetail } from "./i18n-details.ts";

// The one place an error becomes the contract's JSON: {success:false, error, errorCode, details?}.
// A caller's mistake keeps its message and details; anything else is a 500 that says nothing
// about the inside (the gateway logs it in full). A failure whose outcome we cannot know (a
// write that timed out or lost the database) says so (OUTCOME_UNKNOWN) instead of inviting a
// blind retry: see docs/errors.md.

export interface ErrorResponse {
	status: number;
	headers: Record<string, string>;
	body: { success: false; error: string; errorCode: string; details?: unknown };
}

interface AnyError {
	name?: string;
	message?: string;
	code?: unknown;
	status?: unknown;
	statusCode?: unknown;
	type?: unknown;
	data?: unknown;
}

/** Moleculer adds nodeID/action to validation items; the contract shows only field and message. */
function cleanDetails(data: unknown, locale: Locale): ErrorDetail[] | Record<string, unknown> | undefined {
	if (Array.isArray(data)) {
		return data
			.filter(d => d && typeof d === "object")
			.map(d => {
				const field = String((d as ErrorDetail).field ?? "");
				return { field, message: localizeDetail(field, String((d as ErrorDetail).message ?? ""), locale) };
			});
	}
	if (data && typeof data === "object") {
		const { retryAfter: _retryAfter, ...rest } = data as Record<string, unknown>;
		return Object.keys(rest).length ? rest : undefined;
	}
	return undefined;
}

function build(
	status: number,
	errorCode: string,
	message: string,
	locale: Locale,
	details?: unknown,
	headers: Record<string, string> = {}
): ErrorResponse {
	const body: ErrorResponse["body"] = { success: false, error: localize(errorCode, locale, message), errorCode };
	if (details !== undefined) body.details = details;
	return { status, headers, body };
}

/**
 * The driver's and mongoose's names for "the database went away or never answered". Names
 * survive a trip over NATS (Moleculer rebuilds unknown errors with their name), classes do not.
 */
const DATABASE_DOWN = new Set([
	"MongoNetworkError",
	"MongoNetworkTimeoutError",
	"MongoServerSelectionError",
	"MongooseServerSelectionError",
	"MongoPoolClearedError",
	"PoolClearedError",
	"PoolClearedOnNetworkError",
	"MongoNotConnectedError",
	"MongoTopologyClosedError",
	"MongoServerClosedError",
	"DisconnectedError",
]);

/**
 * Server errors that say "the database could not do it now", not "the request is wrong": an
 * internal error (FerretDB's answer when its storage is busy or locked), write conflicts,
 * shutdowns, step-downs, time limits. Answered like a database that went away.
 */
const DATABASE_FAULT_CODES = new Set([1, 6, 7, 50, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

export function isDatabaseDown(err: unknown): boolean {
	const e = (err ?? {}) as AnyError;
	if (typeof e.name === "string" && DATABASE_DOWN.has(e.name)) return true;
	if (
		/^Mongo(Server|BulkWrite|WriteConcern)Error$/.test(String(e.name)) &&
		DATABASE_FAULT_CODES.has(Number((e as { code?: unknown }).code))
	)
		return true;
	// mongoose queues commands while disconnected and gives up with a plain MongooseError
	return e.name === "MongooseError" && /buffering timed out/i.test(String(e.message));
}

export interface ErrorContext {
	/** The request changes something (POST/PUT/PATCH/DELETE): a lost answer is an unknown outcome. */
	write?: boolean;
}

const RETRY_LATER = { "Retry-After": "5" };

export function toErrorResponse(err: unknown, locale: Locale = "vi", { write = false }: ErrorContext = {}): ErrorResponse {
	const e = (err ?? {}) as AnyError;
	const httpStatus = Number(e.status ?? e.statusCode);

	// body-parser's own errors (they reach us before any action runs)
	if (e.type === "entity.parse.failed") return build(400, "BAD_REQUEST", "Malformed JSON body", locale);
	if (e.type === "entity.too.large" || httpStatus === 413)
		return build(413, "PAYLOAD_TOO_LARGE", "Request body is larger than 1 MB", locale);
	if (e.type === "encoding.unsupported" || e.type === "charset.unsupported")
		return build(415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported body encoding", locale);
	if (httpStatus === 400 && typeof e.type === "string" && e.type.startsWith("entity."))
		return build(400, "BAD_REQUEST", "Malformed request body", locale);
	// A compressed body that does not decode: moleculer-web re-wraps body-parser's 400 with zlib's
	// code (Z_DATA_ERROR, Z_BUF_ERROR, ERR__ERROR_FORMAT_PADDING_1 for brotli…) and drops the status.
	if (typeof e.code === "string" && /^(Z_|ERR_BROTLI|ERR__)/.test(e.code))
		return build(400, "BAD_REQUEST", "The request body could not be decoded (Content-Encoding)", locale);
	if (e.type === "request.aborted" || e.type === "request.size.invalid") return build(400, "BAD_REQUEST", "Malformed request body", locale);

	const code = typeof e.code === "number" ? e.code : NaN;
	switch (e.name) {
		case "UnAuthorizedError": // moleculer-web: no or bad token
			return build(401, "UNAUTHORIZED", "Unauthorized", locale);
		case "ForbiddenError":
			return build(403, "FORBIDDEN", "Forbidden", locale);
		case "NotFoundError":
			if (e.type === "NOT_FOUND" && !e.data && e.message === "Not found") return build(404, "NOT_FOUND", "Route not found", locale);
			break;
		case "RequestTimeoutError":
			// The callee may still be running the write, or have finished it: saying "try again"
			// would create it twice. A read is safe to repeat.
			if (write) return build(504, "OUTCOME_UNKNOWN", "No answer in time: the change may or may not have been made", locale);
			return build(503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable, try again", locale, undefined, RETRY_LATER);
		case "ServiceNotFoundError":
		case "ServiceNotAvailableError":
		case "RequestSkippedError":
		case "BrokerDisconnectedError":
			// The request never reached a service: nothing was done.
			return build(503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable, try again", locale, undefined, RETRY_LATER);
		case "RateLimitExceeded":
			return build(429, "RATE_LIMITED", "Too many requests", locale);
	}

	if (isDatabaseDown(err)) {
		// A write that lost the database may have been saved before it did (or half of it).
		if (write) return build(503, "OUTCOME_UNKNOWN", "The database became unavailable: the change may or may not have been made", locale);
		return build(503, "SERVICE_UNAVAILABLE", "Service temporarily unavailable, try again", locale, undefined, RETRY_LATER);
	}

	if (code >= 400 && code < 500 && typeof e.type === "string" && /^[A-Z][A-Z0-9_]*$/.test(e.type)) {
		const headers: Record<string, string> = {};
		const retryAfter = (e.data as { retryAfter?: unknown } | undefined)?.retryAfter;
		if (code === 429 && typeof retryAfter === "number") headers["Retry-After"] = String(retryAfter);
		const details = cleanDetails(e.data, locale);
		return build(code, e.type, e.message || e.type, locale, code === 429 ? { ...(details as object), retryAfter } : details, headers);
	}
	if (code === 504 && e.type === "OUTCOME_UNKNOWN") return build(504, "OUTCOME_UNKNOWN", e.message || "The outcome is unknown", locale);
	if (code === 503 && typeof e.type === "string") {
		return build(503, e.type, e.message || "Service temporarily unavailable", locale, undefined, RETRY_LATER);
	}
	return build(500, "INTERNAL_ERROR", "Internal server error", locale);
}
