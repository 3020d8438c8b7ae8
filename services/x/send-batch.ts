import type { TwitterApi } from "twitter-api-v2";
import { classifyXError, type XFailure } from "../../lib/x/errors.ts";
import { fetchMedia, type FetchedMedia } from "../../lib/x/media.ts";
import type { SendLedger, SendRef, SlotOutcome } from "./send-ledger.ts";
import { retryAtOf, violationMessage, type LimitRule, type Violation } from "./send-limits.ts";

// Sending a batch of DMs of one account: slots claimed for the whole batch at once (one insert,
// one count per rule), one X call per DM with bounded parallelism, outcomes written to the
// ledger in one write. Once X rate-limits the account or is out (5xx, unreachable), the DMs not
// yet sent are not tried: nothing of them went out, and they answer the same, to be held.
//
// The ledger's write of the outcomes need not delay the answer (`deps.settle`): a slot still
// `pending` counts exactly as a `sent` one does, so until the write lands every limit counts the
// same sends, and a slot X refused only counts a little longer (refusing a racing claim early,
// never letting one through). The x service awaits these writes before it stops.

/** DMs in flight at once for one batch: X paces per account (and answers 429 with its reset). */
export const SEND_PARALLELISM = 8;

export interface OutgoingDm {
	/** The caller's id of this DM (its message id): results answer by it. */
	ref: string;
	recipientTwitterUserId: string;
	text: string;
	mediaUrl?: string;
}

export type DmResult =
	| { ref: string; outcome: "sent"; twitterMessageId: string; dmConversationId: string; sentAt: string }
	/** Nothing was sent: our limits or X's 429. Try again at retryAt. */
	| { ref: string; outcome: "rate_limited"; message: string; retryAfter: number; retryAt: string; source: "mkt-x" | "x"; limits: string[] }
	/** Nothing was sent: X is down or unreachable. Try again later. */
	| { ref: string; outcome: "unavailable"; reason: string }
	/** X (or the media fetch) refused this DM; nothing was sent. */
	| { ref: string; outcome: "rejected"; reason: string; xStatus?: number; xCode?: string | number; error?: Error }
	/** The DM may or may not have reached X: never resent. */
	| { ref: string; outcome: "unknown"; reason: string };

export interface BatchDeps {
	client: TwitterApi;
	ledger: SendLedger;
	rules: LimitRule[];
	now(): Date;
	media: { maxBytes: number; fetchTimeoutMs: number; allowPrivateHosts: boolean };
	/** Takes the ledger's write of the outcomes to finish after the answer; unset: awaited before it. */
	settle?(write: Promise<void>): void;
}

export function limitResult(ref: string, violations: Violation[], now: Date): DmResult {
	const retryAt = retryAtOf(violations);
	return {
		ref,
		outcome: "rate_limited",
		message: violationMessage(violations),
		retryAfter: Math.max(0, (retryAt.getTime() - now.getTime()) / 1000),
		retryAt: retryAt.toISOString(),
		source: "mkt-x",
		limits: violations.map(v => v.rule.name),
	};
}

function xLimitResult(ref: string, f: Extract<XFailure, { kind: "rate_limited" }>): DmResult {
	return {
		ref,
		outcome: "rate_limited",
		message: `X is rate limiting this account (${f.window}) until ${f.resetAt.toISOString()}`,
		retryAfter: f.retryAfterSeconds,
		retryAt: f.resetAt.toISOString(),
		source: "x",
		limits: [f.window],
	};
}

/** Sends `dms` from the account of `ref`; one result per DM, in order. */
export async function sendBatch(deps: BatchDeps, ref: SendRef, dms: OutgoingDm[]): Promise<DmResult[]> {
	const { ledger, rules } = deps;
	const results = new Map<string, DmResult>();

	// Images first (each distinct URL once), but not when the limits refuse everything anyway.
	const urls = [...new Set(dms.map(d => d.mediaUrl).filter((u): u is string => Boolean(u)))];
	const media = new Map<string, FetchedMedia | Error>();
	if (urls.length) {
		const early = await ledger.check(ref, rules);
		if (early.length) return dms.map(d => limitResult(d.ref, early, deps.now()));
		const { maxBytes, fetchTimeoutMs, allowPrivateHosts } = deps.media;
		await Promise.all(
			urls.map(async url =>
				media.set(url, await fetchMedia(url, { maxBytes, timeoutMs: fetchTimeoutMs, allowPrivateHosts }).catch((err: Error) => err))
			)
		);
	}
	const sendable: OutgoingDm[] = [];
	for (const dm of dms) {
		const m = dm.mediaUrl ? media.get(dm.mediaUrl) : null;
		if (m instanceof Error) results.set(dm.ref, { ref: dm.ref, outcome: "rejected", reason: `media: ${m.message}`, error: m });
		else sendable.push(dm);
	}

	if (sendable.length) {
		const claim = await ledger.claimMany(ref, rules, sendable.length);
		sendable.slice(claim.allowed).forEach(dm => results.set(dm.ref, limitResult(dm.ref, claim.violations, deps.now())));
		const allowed = sendable.slice(0, claim.allowed).map((dm, i) => ({ dm, slot: claim.slots[i].id }));
		const outcomes: SlotOutcome[] = [];
		let stop: ((ref: string) => DmResult) | null = null;
		let next = 0;
		const worker = async () => {
			while (next < allowed.length) {
				const { dm, slot } = allowed[next++];
				if (stop) {
					results.set(dm.ref, stop(dm.ref));
					outcomes.push({ id: slot, state: "released", reason: "not tried: X refused the batch" });
					continue;
				}
				const res = await sendOne(deps, dm, media.get(dm.mediaUrl ?? "") as FetchedMedia | undefined);
				results.set(dm.ref, res.result);
				if (res.slot) outcomes.push({ id: slot, ...res.slot } as SlotOutcome);
				if (res.result.outcome === "rate_limited" || res.result.outcome === "unavailable") {
					const first = res.result;
					stop ??= r => ({ ...first, ref: r });
				}
			}
		};
		await Promise.all(Array.from({ length: Math.min(SEND_PARALLELISM, allowed.length) }, worker));
		if (deps.settle) deps.settle(ledger.record(outcomes));
		else await ledger.record(outcomes);
	}
	return dms.map(d => results.get(d.ref)!);
}

/** One DM to X. `slot`: how its ledger slot ends (none: it may have gone, so it keeps counting). */
async function sendOne(
	deps: BatchDeps,
	dm: OutgoingDm,
	media: FetchedMedia | undefined
): Promise<{ result: DmResult; slot: { state: "sent"; twitterMessageId: string } | { state: "released"; reason: string } | null }> {
	const { client } = deps;
	let stage: "media" | "send" = "media";
	try {
		let mediaId: string | undefined;
		if (media) {
			mediaId = await client.v2.uploadMedia(media.bytes, {
				media_type: media.mediaType,
				media_category: media.mediaType === "image/gif" ? "dm_gif" : "dm_image",
			});
		}
		stage = "send";
		const res = await client.v2.sendDmToParticipant(
			dm.recipientTwitterUserId,
			mediaId ? { text: dm.text, attachments: [{ media_id: mediaId }] } : { text: dm.text }
		);
		// X answers {data: {...}}; the library's type shows the inner object.
		const data = ((res as unknown as { data?: typeof res }).data ?? res) as typeof res;
		return {
			result: {
				ref: dm.ref,
				outcome: "sent",
				twitterMessageId: data.dm_event_id,
				dmConversationId: data.dm_conversation_id,
				sentAt: deps.now().toISOString(),
			},
			slot: { state: "sent", twitterMessageId: data.dm_event_id },
		};
	} catch (err) {
		const failure = classifyXError(err, deps.now().getTime());
		// Only the DM itself can have gone; an upload that failed sent nothing.
		if (failure.kind === "uncertain" && stage === "send")
			return { result: { ref: dm.ref, outcome: "unknown", reason: failure.reason }, slot: null };
		const slot = { state: "released" as const, reason: failure.reason };
		if (failure.kind === "rate_limited") return { result: xLimitResult(dm.ref, failure), slot };
		if (failure.kind === "rejected")
			return { result: { ref: dm.ref, outcome: "rejected", reason: failure.reason, xStatus: failure.status, xCode: failure.xCode }, slot };
		return { result: { ref: dm.ref, outcome: "unavailable", reason: failure.reason }, slot };
	}
}
