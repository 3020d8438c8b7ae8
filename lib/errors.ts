import { Errors } from "moleculer";

// The caller's mistakes. Each carries an HTTP status, a fixed errorCode (Moleculer's `type`)
// and optional details ({field, message}[]). Only the gateway's onError shapes them as JSON;
// these classes survive a trip over NATS because Moleculer serialises code, type and data.

export interface ErrorDetail {
	field: string;
	message: string;
}

export class ApiError extends Errors.MoleculerClientError {
	constructor(message: string, status: number, errorCode: string, details?: ErrorDetail[] | Record<string, unknown>) {
		super(message, status, errorCode, details);
	}
}

export class BadRequestError extends ApiError {
	constructor(message = "Bad request", errorCode = "BAD_REQUEST", details?: ErrorDetail[]) {
		super(message, 400, errorCode, details);
	}
}

export class UnauthorizedError extends ApiError {
	constructor(message = "Unauthorized") {
		super(message, 401, "UNAUTHORIZED");
	}
}

export class ForbiddenError extends ApiError {
	constructor(message = "Forbidden") {
		super(message, 403, "FORBIDDEN");
	}
}

export class NotFoundError extends ApiError {
	constructor(entity = "Resource") {
		super(`${entity} not found`, 404, "NOT_FOUND");
	}
}

export class ConflictError extends ApiError {
	constructor(message: string, errorCode = "CONFLICT", details?: Record<string, unknown>) {
		super(message, 409, errorCode, details);
	}
}

export class ValidationFailedError extends ApiError {
	constructor(details: ErrorDetail[], message = "Validation failed") {
		super(message, 422, "VALIDATION_ERROR", details);
	}
}

export class RateLimitedError extends ApiError {
	/** @param retryAfterSeconds how long until the caller may try again */
	constructor(message: string, retryAfterSeconds: number, details: Record<string, unknown> = {}) {
		super(message, 429, "RATE_LIMITED", { ...details, retryAfter: Math.max(1, Math.ceil(retryAfterSeconds)) });
	}
}

/**
 * A write that may or may not have been made (the gateway's 504 OUTCOME_UNKNOWN, docs/errors.md):
 * e.g. a change queued for its writer and not applied within the request's wait (it will be).
 */
export class OutcomeUnknownError extends ApiError {
	constructor(message = "The outcome is unknown: the change may or may not have been made") {
		super(message, 504, "OUTCOME_UNKNOWN");
	}
}

/** An upstream failure worth retrying (X or Anthropic down, a node gone). Never shown as 500. */
export class UpstreamUnavailableError extends Errors.MoleculerRetryableError {
	constructor(message: string, errorCode = "UPSTREAM_UNAVAILABLE") {
		super(message, 503, errorCode);
	}
}

/** This node cannot take the request now (it is stopping, or cannot reach what it needs); nothing was done. */
export class ServiceUnavailableError extends Errors.MoleculerRetryableError {
	constructor(message = "Service temporarily unavailable, try again") {
		super(message, 503, "SERVICE_UNAVAILABLE");
	}
}
