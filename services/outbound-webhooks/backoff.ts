// When to try a failed delivery again, and when to stop. Pure, so it is unit-tested.

export const RETRY_WINDOW_MS = 24 * 3600_000;
export const FIRST_DELAY_MS = 5_000;
export const MAX_DELAY_MS = 3600_000;

export interface PostOutcome {
	/** null when no answer came (network error, timeout). */
	statusCode: number | null;
	latencyMs: number;
	error: string | null;
	/** Retry-After of a 429 or 503, in seconds. */
	retryAfterSeconds: number | null;
}

export type Verdict = { kind: "delivered" } | { kind: "retry"; at: Date } | { kind: "failed" };

/** Exponential (5 s, 10 s, 20 s … 1 h), with jitter in the upper half so retries of many deliveries spread out. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
	const full = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1));
	return Math.round(full / 2 + random() * (full / 2));
}

/** Retry-After as seconds (a number) or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | string[] | undefined, nowMs: number): number | null {
	const value = Array.isArray(header) ? header[0] : header;
	if (!value) return null;
	if (/^\d+$/.test(value.trim())) return Number(value.trim());
	const at = Date.parse(value);
	return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - nowMs) / 1000));
}

export const isSuccess = (o: PostOutcome) => o.statusCode !== null && o.statusCode >= 200 && o.statusCode < 300;
/** Network errors, timeouts, 5xx and 429 are worth another try; any other answer is final. */
export const isRetryable = (o: PostOutcome) => o.statusCode === null || o.statusCode === 429 || o.statusCode >= 500;

/**
 * What follows an attempt. Retries stay inside the window that began at `windowStartAt`: the
 * last one is placed at the window's end, so a delivery failing all day ends exactly then.
 */
export function verdict(o: PostOutcome, attempt: number, windowStartAt: Date, now: Date, random: () => number = Math.random): Verdict {
	if (isSuccess(o)) return { kind: "delivered" };
	if (!isRetryable(o)) return { kind: "failed" };
	const windowEnd = windowStartAt.getTime() + RETRY_WINDOW_MS;
	if (now.getTime() >= windowEnd) return { kind: "failed" };
	const delay = o.retryAfterSeconds !== null ? o.retryAfterSeconds * 1000 : backoffMs(attempt, random);
	return { kind: "retry", at: new Date(Math.min(now.getTime() + delay, windowEnd)) };
}

/** One line for the delivery's `lastError` and the merchant's view of a disabled subscription. */
export function describeOutcome(o: PostOutcome): string {
	return o.statusCode !== null ? `HTTP ${o.statusCode}` : (o.error ?? "no answer");
}
