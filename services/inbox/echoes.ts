import { MessageModel } from "../../models/message.model.ts";
import { deleteEach, updateEach } from "../../lib/lookups.ts";

// X's echo of one of our own sends (a DM the account wrote, delivered by the webhook) may be
// applied by the account's writer before the send's `sent` row: nothing then says it is ours, so
// it is stored and counted as a message written in X's app. When the `sent` row comes, the echo
// goes and the send is not counted again (docs/ingest.md). To find such echoes without one query
// per send (FerretDB on PostgreSQL answers `$in` by reading the whole collection: lib/lookups.ts),
// the writer marks the X-app messages it stores with `echoCandidateOf: <account>` and reads the
// account's marked messages in one equality query per batch. The set stays small: a candidate
// leaves it when its send is applied (the echo is deleted), or once no send can match it any more.
//
// When is that? A send's row is queued by the pipeline right after X accepted the DM, at most
// X_CALL_TIMEOUT_MS (10 min) later for a batch whose other DMs were slow (services/inbox/pipeline.ts),
// and the writer applies an account's rows in their queue order (`receivedAt`). So once the writer
// applies a row queued more than ECHO_WINDOW_MS after a candidate was written on X (its `sentAt`,
// X's time of the DM), any send of that DM was applied before or in this batch: the candidate
// is no echo still to come. Judged by the queue's time, not the clock, so a backlog keeps them.

/** Far more than the pipeline's longest delay between X's answer and the `sent` row (10 min). */
export const ECHO_WINDOW_MS = 60 * 60_000;

interface Candidate {
	_id: string;
	twitterMessageId?: string | null;
	sentAt?: Date | string | null;
}

/** The latest queue time of a batch's rows (now for rows that carry none, as in tests). */
export function queueTimeOf(rows: { receivedAt?: Date | string | null }[], now = Date.now()): number {
	let latest = Number.NEGATIVE_INFINITY;
	for (const r of rows) latest = Math.max(latest, r.receivedAt ? new Date(r.receivedAt).getTime() : now);
	return Number.isFinite(latest) ? latest : now;
}

/** An X-app message written on X at `sentAt` can still be the echo of a send whose row is to come. */
export function canStillBeEcho(sentAt: Date | string | null | undefined, queueTime: number): boolean {
	return sentAt ? new Date(sentAt).getTime() >= queueTime - ECHO_WINDOW_MS : false;
}

/** Which candidates the batch's sends match, and which can no longer be matched by any send. */
export function sortCandidates(
	candidates: Candidate[],
	sentTwitterIds: Set<string>,
	queueTime: number
): { matched: Candidate[]; expired: Candidate[] } {
	const matched: Candidate[] = [];
	const expired: Candidate[] = [];
	for (const c of candidates) {
		if (c.twitterMessageId && sentTwitterIds.has(c.twitterMessageId)) matched.push(c);
		else if (!canStillBeEcho(c.sentAt, queueTime)) expired.push(c);
	}
	return { matched, expired };
}

/**
 * The echoes of the batch's sends stored (and counted) before them: deleted here, their X ids
 * returned so the sends are not counted again. Expired candidates lose their mark. One query,
 * plus a write only when something matched or expired.
 */
export async function takeCountedEchoes(accountId: string, sentTwitterIds: Set<string>, queueTime: number): Promise<Set<string>> {
	const candidates = await MessageModel.find({ echoCandidateOf: accountId }, { twitterMessageId: 1, sentAt: 1 }).lean<Candidate[]>();
	const { matched, expired } = sortCandidates(candidates, sentTwitterIds, queueTime);
	if (matched.length)
		await deleteEach(
			MessageModel,
			matched.map(c => c._id)
		);
	if (expired.length)
		await updateEach(
			MessageModel,
			expired.map(c => c._id),
			{ $unset: { echoCandidateOf: "" } }
		);
	return new Set(matched.map(c => c.twitterMessageId!));
}
