import { createHash, randomUUID } from "node:crypto";
import { RequestKeyModel } from "../models/request-key.model.ts";
import { ConflictError, OutcomeUnknownError, ServiceUnavailableError } from "./errors.ts";
import { isDuplicateKey } from "./ids.ts";

// Idempotency-Key on creates, decided once in the gateway (docs/errors.md):
// - the first request with a key claims it by a unique insert (FerretDB updates are not atomic),
//   runs, and stores the answer it got; a repeat with the same body gets that answer again;
// - the same key with another action or body: 409 IDEMPOTENCY_KEY_REUSED;
// - while the first is still running: 409 IDEMPOTENCY_IN_PROGRESS;
// - an answer that invites a retry (4xx, or 503 with Retry-After: nothing was done) frees the
//   key; any other (2xx, OUTCOME_UNKNOWN, 500) is kept and replayed until the key expires.

export interface KeyOptions {
	ttlMs: number;
	/** Bound on each database operation of the key: a stalled database must not hold the request. */
	opTimeoutMs: number;
	/** A claim still pending after this long lost its request (the node died): its outcome is unknown. */
	staleAfterMs: number;
}

export interface Claim {
	id: string;
	owner: string;
}

export type ClaimResult = { claimed: true; claim: Claim } | { claimed: false; status: number; body: unknown };

class DeadlineError extends Error {}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
	let timer: NodeJS.Timeout;
	const deadline = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new DeadlineError(`no answer from the database within ${ms} ms`)), ms);
	});
	return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** Nothing ran: the caller may simply try again. */
function unavailable(): ServiceUnavailableError {
	return new ServiceUnavailableError("The request could not be recorded, try again");
}

function canonical(value: unknown): string {
	if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
	if (value && typeof value === "object") {
		const entries = Object.entries(value as Record<string, unknown>)
			.filter(([, v]) => v !== undefined)
			.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
		return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
	}
	return JSON.stringify(value) ?? "null";
}

/** What makes two requests "the same": the action and its params (body, query, path), key order aside. */
export function fingerprintOf(action: string, params: unknown): string {
	return createHash("sha256").update(action).update("\n").update(canonical(params)).digest("hex");
}

export function keyId(merchantId: string, key: string): string {
	return createHash("sha256")
		.update(JSON.stringify([merchantId, key]))
		.digest("hex");
}

export async function claimKey(
	merchantId: string,
	key: string,
	fingerprint: string,
	opts: KeyOptions,
	now = Date.now()
): Promise<ClaimResult> {
	const id = keyId(merchantId, key);
	const owner = randomUUID();
	for (let attempt = 0; attempt < 3; attempt++) {
		try {
			await withDeadline(
				RequestKeyModel.create({
					_id: id,
					merchantId,
					fingerprint,
					owner,
					createdAt: new Date(now),
					expiresAt: new Date(now + opts.ttlMs),
				}),
				opts.opTimeoutMs
			);
			return { claimed: true, claim: { id, owner } };
		} catch (err) {
			if (err instanceof DeadlineError) {
				// The insert may still land: take it back when the database answers again.
				void RequestKeyModel.deleteOne({ _id: id, owner, state: "pending" }).catch(() => {});
				throw unavailable();
			}
			if (!isDuplicateKey(err)) throw unavailable();
		}
		let earlier;
		try {
			earlier = await withDeadline(RequestKeyModel.findById(id).lean(), opts.opTimeoutMs);
		} catch {
			throw unavailable();
		}
		if (!earlier) continue; // settled and freed meanwhile: claim again
		if (earlier.expiresAt.getTime() <= now) {
			// Expired but not yet swept (FerretDB has no TTL monitor): forget it, then claim again.
			await withDeadline(RequestKeyModel.deleteOne({ _id: id, owner: earlier.owner }), opts.opTimeoutMs).catch(() => {
				throw unavailable();
			});
			continue;
		}
		if (earlier.fingerprint !== fingerprint) {
			throw new ConflictError("This Idempotency-Key was used for a different request", "IDEMPOTENCY_KEY_REUSED");
		}
		if (earlier.state === "done") return { claimed: false, status: earlier.status ?? 200, body: earlier.body };
		if (now - earlier.createdAt.getTime() > opts.staleAfterMs) throw new OutcomeUnknownError();
		throw new ConflictError("A request with this Idempotency-Key is still in progress", "IDEMPOTENCY_IN_PROGRESS");
	}
	throw unavailable();
}

/** Keeps the answer for the repeats. Best effort: if it fails, the claim goes stale (outcome unknown). */
export async function keepAnswer(claim: Claim, status: number, body: unknown, opts: KeyOptions): Promise<void> {
	await withDeadline(
		RequestKeyModel.updateOne({ _id: claim.id, owner: claim.owner, state: "pending" }, { $set: { state: "done", status, body } }),
		opts.opTimeoutMs
	).catch(() => {});
}

/** Frees the key: nothing was done, so the same key may run the request again. */
export async function freeKey(claim: Claim, opts: KeyOptions): Promise<void> {
	await withDeadline(RequestKeyModel.deleteOne({ _id: claim.id, owner: claim.owner, state: "pending" }), opts.opTimeoutMs).catch(() => {});
}

/** 4xx (the caller's mistake, refused before anything changed) or a 503 that asks for a retry. */
export function answerFreesKey(status: number, headers: Record<string, string>): boolean {
	return (status >= 400 && status < 500) || (status === 503 && "Retry-After" in headers);
}
