import { randomUUID } from "node:crypto";
import { decryptSecret } from "../../lib/crypto.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { OutboundAttemptModel } from "../../models/outbound-attempt.model.ts";
import { OutboundDeliveryModel, type OutboundDelivery } from "../../models/outbound-delivery.model.ts";
import { WebhookSubscriptionModel, type WebhookSubscription } from "../../models/webhook-subscription.model.ts";
import { describeOutcome, isSuccess, RETRY_WINDOW_MS, verdict, type PostOutcome, type Verdict } from "./backoff.ts";
import { clock } from "./clock.ts";
import type { Poster } from "./post.ts";
import { signatureHeader } from "./sign.ts";

// Sending stored deliveries: any node's worker takes any due delivery. Each attempt is claimed
// by a unique insert before the POST; the outcome is written to the delivery (conditioned on
// the attempt count, so only the claim holder writes it) and then to the claim.

export type Delivery = OutboundDelivery & { _id: string };

export interface WorkerEnv {
	nodeID: string;
	poster: Poster;
	encryptionKey: Buffer;
	timeoutMs: number;
	/** Aborted when the node stops: attempts in flight give their claim back. */
	stop: AbortSignal;
	log(line: string): void;
}

/** A claim this old without an outcome belongs to a node that died mid-delivery. */
export const staleClaimMs = (timeoutMs: number) => 2 * timeoutMs + 30_000;

const keyOf = (d: { subscriptionId: string; orderKey?: string | null }) => `${d.subscriptionId}\0${d.orderKey}`;

/**
 * Due pending deliveries that are the oldest pending of their (subscription, order key), in
 * three queries whatever the backlog: the due rows, every pending row of their subscriptions
 * (without bodies) to find each key's oldest, then the chosen rows. A due row waiting behind an
 * older one that is not due yet is moved to that one's time, so blocked rows never crowd the
 * batch and starve other subscriptions.
 */
export async function dueHeads(limit: number): Promise<Delivery[]> {
	const now = clock.now();
	const light = { _id: 1, subscriptionId: 1, orderKey: 1, seq: 1, nextAttemptAt: 1 };
	type Light = Pick<Delivery, "_id" | "subscriptionId" | "orderKey" | "seq" | "nextAttemptAt">;
	const due = await OutboundDeliveryModel.find({ status: "pending", nextAttemptAt: { $lte: now } }, light)
		.sort({ status: 1, nextAttemptAt: 1 })
		.limit(limit)
		.lean<Light[]>();
	const ordered = due.filter(d => d.orderKey !== null);
	const oldest = new Map<string, Light>();
	if (ordered.length) {
		const subscriptionIds = [...new Set(ordered.map(d => d.subscriptionId))];
		const pending = await OutboundDeliveryModel.find({ subscriptionId: { $in: subscriptionIds }, status: "pending" }, light).lean<
			Light[]
		>();
		for (const p of pending) {
			if (p.orderKey === null) continue;
			const o = oldest.get(keyOf(p));
			if (!o || p.seq < o.seq) oldest.set(keyOf(p), p);
		}
	}
	const chosen: string[] = [];
	const deferred = new Map<number, string[]>();
	for (const d of due) {
		const head = d.orderKey === null ? d : oldest.get(keyOf(d));
		if (!head || head._id === d._id) chosen.push(d._id);
		else if (head.nextAttemptAt && head.nextAttemptAt > now) {
			const at = new Date(head.nextAttemptAt).getTime();
			deferred.set(at, [...(deferred.get(at) ?? []), d._id]);
		}
	}
	for (const [at, ids] of deferred)
		await OutboundDeliveryModel.updateMany({ _id: { $in: ids }, status: "pending" }, { $set: { nextAttemptAt: new Date(at) } });
	if (!chosen.length) return [];
	const rows = await OutboundDeliveryModel.find({ _id: { $in: chosen } }).lean<Delivery[]>();
	const byId = new Map(rows.map(r => [r._id, r]));
	return chosen.map(id => byId.get(id)).filter((r): r is Delivery => r?.status === "pending");
}

/** The token of the claim on attempt `n`, or null when another worker holds it. */
async function claim(d: Delivery, n: number, nodeID: string, timeoutMs: number): Promise<string | null> {
	const _id = `${d._id}:${n}`;
	const token = randomUUID();
	const insert = async () => {
		try {
			await OutboundAttemptModel.create({
				_id,
				deliveryId: d._id,
				subscriptionId: d.subscriptionId,
				attempt: n,
				token,
				nodeID,
				claimedAt: clock.now(),
			});
			return token;
		} catch (err) {
			if (isDuplicateKey(err)) return null;
			throw err;
		}
	};
	if (await insert()) return token;
	const held = await OutboundAttemptModel.findById(_id).lean();
	if (!held || held.finishedAt || clock.now().getTime() - new Date(held.claimedAt).getTime() < staleClaimMs(timeoutMs)) return null;
	// Delete the dead claim by its token: of two workers taking over, one deletes, both insert, one wins.
	await OutboundAttemptModel.deleteOne({ _id, token: held.token });
	return insert();
}

function signingSecrets(sub: WebhookSubscription, key: Buffer, now: Date): string[] {
	const secrets = [decryptSecret(sub.secret, key)];
	if (sub.previousSecret && sub.previousSecretExpiresAt && sub.previousSecretExpiresAt > now)
		secrets.push(decryptSecret(sub.previousSecret, key));
	return secrets;
}

/** Stops every pending delivery of a subscription (it was disabled or deleted). */
export async function failPending(subscriptionId: string, reason: string): Promise<void> {
	await OutboundDeliveryModel.updateMany(
		{ subscriptionId, status: "pending" },
		{ $set: { status: "failed", nextAttemptAt: null, lastError: reason } }
	);
}

/** 24 h of failures disable the subscription; one success clears the count. */
async function recordHealth(
	sub: WebhookSubscription,
	outcome: PostOutcome,
	ok: boolean,
	attemptAt: Date,
	now: Date,
	log: (l: string) => void
) {
	if (ok) {
		if (sub.failingSince) await WebhookSubscriptionModel.updateOne({ _id: sub._id }, { $set: { failingSince: null } });
		return;
	}
	if (!sub.failingSince) {
		await WebhookSubscriptionModel.updateOne({ _id: sub._id }, { $set: { failingSince: attemptAt } });
		return;
	}
	if (sub.status !== "active" || now.getTime() - new Date(sub.failingSince).getTime() < RETRY_WINDOW_MS) return;
	const reason = `every delivery failed since ${new Date(sub.failingSince).toISOString()}; last: ${describeOutcome(outcome)}`;
	const current = await WebhookSubscriptionModel.findById(sub._id, { status: 1 }).lean();
	if (current?.status !== "active") return;
	await WebhookSubscriptionModel.updateOne({ _id: sub._id }, { $set: { status: "disabled", disabledAt: now, disabledReason: reason } });
	log(`outbound webhook ${sub._id} disabled: ${reason}`);
	await failPending(sub._id, "subscription disabled");
}

export interface AttemptOptions {
	/** Send even when the subscription is disabled (a ping). */
	force?: boolean;
	/** No retries: the outcome is final (a ping). */
	once?: boolean;
}

/** One attempt of one delivery, if this worker gets the claim; true when it was sent. */
export async function attemptDelivery(d: Delivery, env: WorkerEnv, opts: AttemptOptions = {}): Promise<boolean> {
	const sub = await WebhookSubscriptionModel.findById(d.subscriptionId).lean<WebhookSubscription>();
	if (!sub) {
		await OutboundDeliveryModel.deleteOne({ _id: d._id });
		return false;
	}
	if (sub.status !== "active" && !opts.force) {
		await failPending(sub._id, "subscription disabled");
		return false;
	}
	const n = d.attempts + 1;
	const token = await claim(d, n, env.nodeID, env.timeoutMs);
	if (!token) return false;
	const claimId = `${d._id}:${n}`;

	const attemptAt = clock.now();
	const timestamp = Math.floor(Date.now() / 1000);
	const outcome = await env.poster.post(
		sub.url,
		d.body,
		{
			"x-mktx-event-id": d.eventId,
			"x-mktx-timestamp": String(timestamp),
			"x-mktx-signature": signatureHeader(signingSecrets(sub, env.encryptionKey, attemptAt), timestamp, d.body),
		},
		env.stop
	);
	if (env.stop.aborted) {
		// This node is stopping: nothing is known about the attempt, so another node makes it again.
		await OutboundAttemptModel.deleteOne({ _id: claimId, token });
		return false;
	}

	const now = clock.now();
	const windowStartAt = d.windowStartAt ?? attemptAt;
	const v: Verdict = opts.once ? { kind: isSuccess(outcome) ? "delivered" : "failed" } : verdict(outcome, n, windowStartAt, now);
	const ok = v.kind === "delivered";
	// By _id alone (FerretDB 1.x scans the collection for any other filter, and would not apply
	// it atomically either); only while still pending: a subscription disabled meanwhile has
	// failed its deliveries for good.
	const current = await OutboundDeliveryModel.findById(d._id, { status: 1, attempts: 1 }).lean();
	if (current?.status !== "pending" || current.attempts !== d.attempts) {
		await OutboundAttemptModel.updateOne(
			{ _id: claimId },
			{ $set: { finishedAt: now, statusCode: outcome.statusCode, latencyMs: outcome.latencyMs, error: outcome.error } }
		);
		return true;
	}
	await OutboundDeliveryModel.updateOne(
		{ _id: d._id },
		{
			$set: {
				attempts: n,
				windowStartAt,
				lastAttemptAt: attemptAt,
				lastStatusCode: outcome.statusCode,
				lastLatencyMs: outcome.latencyMs,
				lastError: ok ? null : describeOutcome(outcome),
				status: v.kind === "retry" ? "pending" : v.kind,
				nextAttemptAt: v.kind === "retry" ? v.at : null,
				...(ok ? { deliveredAt: now } : {}),
			},
		}
	);
	await OutboundAttemptModel.updateOne(
		{ _id: claimId },
		{ $set: { finishedAt: now, statusCode: outcome.statusCode, latencyMs: outcome.latencyMs, error: outcome.error } }
	);
	await recordHealth(sub, outcome, ok, attemptAt, now, env.log);
	// Disabled by another attempt meanwhile: FerretDB's updates are not atomic, so our retry may
	// have overwritten its "failed". Either way the row is failed, here or when next due.
	if (v.kind === "retry" && (await WebhookSubscriptionModel.findById(sub._id, { status: 1 }).lean())?.status !== "active") {
		await OutboundDeliveryModel.updateOne(
			{ _id: d._id, status: "pending" },
			{ $set: { status: "failed", nextAttemptAt: null, lastError: "subscription disabled" } }
		);
	}
	return true;
}
