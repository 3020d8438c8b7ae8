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

/** Due pending deliveries that are the oldest pending of their (subscription, order key). */
export async function dueHeads(limit: number): Promise<Delivery[]> {
	const now = clock.now();
	const due = await OutboundDeliveryModel.find({ status: "pending", nextAttemptAt: { $lte: now } })
		.sort({ nextAttemptAt: 1 })
		.limit(limit)
		.lean<Delivery[]>();
	const heads: Delivery[] = [];
	const seen = new Set<string>();
	for (const d of due) {
		if (d.orderKey === null) {
			heads.push(d);
			continue;
		}
		const key = `${d.subscriptionId}\0${d.orderKey}`;
		if (seen.has(key)) continue;
		seen.add(key);
		const head = await OutboundDeliveryModel.findOne({ subscriptionId: d.subscriptionId, orderKey: d.orderKey, status: "pending" })
			.sort({ seq: 1 })
			.lean<Delivery>();
		if (head && head.nextAttemptAt && head.nextAttemptAt <= now) heads.push(head);
	}
	return heads;
}

/** The token of the claim on attempt `n`, or null when another worker holds it. */
async function claim(d: Delivery, n: number, nodeID: string, timeoutMs: number): Promise<string | null> {
	const _id = `${d._id}:${n}`;
	const token = randomUUID();
	const insert = async () => {
		try {
			await OutboundAttemptModel.create({ _id, deliveryId: d._id, subscriptionId: d.subscriptionId, attempt: n, token, nodeID, claimedAt: clock.now() });
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
	if (sub.previousSecret && sub.previousSecretExpiresAt && sub.previousSecretExpiresAt > now) secrets.push(decryptSecret(sub.previousSecret, key));
	return secrets;
}

/** Stops every pending delivery of a subscription (it was disabled or deleted). */
export async function failPending(subscriptionId: string, reason: string): Promise<void> {
	await OutboundDeliveryModel.updateMany({ subscriptionId, status: "pending" }, { $set: { status: "failed", nextAttemptAt: null, lastError: reason } });
}

/** 24 h of failures disable the subscription; one success clears the count. */
async function recordHealth(sub: WebhookSubscription, outcome: PostOutcome, ok: boolean, attemptAt: Date, now: Date, log: (l: string) => void) {
	if (ok) {
		if (sub.failingSince) await WebhookSubscriptionModel.updateOne({ _id: sub._id }, { $set: { failingSince: null } });
		return;
	}
	if (!sub.failingSince) {
		await WebhookSubscriptionModel.updateOne({ _id: sub._id, failingSince: null }, { $set: { failingSince: attemptAt } });
		return;
	}
	if (sub.status !== "active" || now.getTime() - new Date(sub.failingSince).getTime() < RETRY_WINDOW_MS) return;
	const reason = `every delivery failed since ${new Date(sub.failingSince).toISOString()}; last: ${describeOutcome(outcome)}`;
	const res = await WebhookSubscriptionModel.updateOne({ _id: sub._id, status: "active" }, { $set: { status: "disabled", disabledAt: now, disabledReason: reason } });
	if (res.modifiedCount) {
		log(`outbound webhook ${sub._id} disabled: ${reason}`);
		await failPending(sub._id, "subscription disabled");
	}
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
		{ "x-mktx-event-id": d.eventId, "x-mktx-timestamp": String(timestamp), "x-mktx-signature": signatureHeader(signingSecrets(sub, env.encryptionKey, attemptAt), timestamp, d.body) },
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
	// Only while still pending: a subscription disabled meanwhile has failed its deliveries for good.
	await OutboundDeliveryModel.updateOne(
		{ _id: d._id, attempts: d.attempts, status: "pending" },
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
		{ _id: claimId, token },
		{ $set: { finishedAt: now, statusCode: outcome.statusCode, latencyMs: outcome.latencyMs, error: outcome.error } }
	);
	await recordHealth(sub, outcome, ok, attemptAt, now, env.log);
	// Disabled by another attempt meanwhile: FerretDB's updates are not atomic, so our retry may
	// have overwritten its "failed". Either way the row is failed, here or when next due.
	if (v.kind === "retry" && (await WebhookSubscriptionModel.findById(sub._id, { status: 1 }).lean())?.status !== "active") {
		await OutboundDeliveryModel.updateOne({ _id: d._id, status: "pending" }, { $set: { status: "failed", nextAttemptAt: null, lastError: "subscription disabled" } });
	}
	return true;
}
