import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";
import { callFor, type Caller } from "../../lib/calls.ts";
import { updateEach } from "../../lib/lookups.ts";
import type { ActivityBatch } from "./account-activity.ts";
import type { AccountDirectory, AccountRef } from "./account-directory.ts";

// Hand-over of stored deliveries to the inbox's queue, many at once: the deliveries of a group
// are sorted by account, each account's events go to `inbox.enqueue` in one call (whose rows'
// ids derive from X's event ids, so handing a delivery over twice queues nothing new), and the
// group's deliveries are marked with one update per outcome. A delivery whose account's call
// failed stays `pending`: the sweeper hands it over again.

export type HandoverOutcome = "queued" | "ignored" | "pending";

export interface StoredDelivery {
	id: string;
	batch: ActivityBatch;
}

/** `inbox.enqueue` takes at most this many DMs (and as many reads) per call. */
const MAX_ROWS_PER_CALL = 1000;

type Events = ReturnType<typeof dmsAndReads>;

/** The delivery's events as the inbox's queue takes them, seen from `account`. */
function dmsAndReads(batch: ActivityBatch, account: AccountRef) {
	const dms = batch.messages.map(m => {
		const outbound = m.senderId === account.twitterUserId;
		const customerId = outbound ? m.recipientId : m.senderId;
		return { ...m, createdAt: m.createdAt.toISOString(), customerId, outbound, profile: batch.users.get(customerId) ?? null };
	});
	// The account reading the customer's messages is not a read receipt for us.
	const reads = batch.reads
		.filter(r => r.readerId !== account.twitterUserId)
		.map(r => ({ readerId: r.readerId, lastReadEventId: r.lastReadEventId, at: r.at.toISOString(), customerId: r.readerId }));
	return { dms, reads };
}

export async function handOverDeliveries(
	caller: Caller,
	accounts: AccountDirectory,
	deliveries: StoredDelivery[],
	timeoutMs: number,
	onError: (account: AccountRef, ids: string[], err: Error) => void
): Promise<HandoverOutcome[]> {
	const outcome = new Map<string, HandoverOutcome>();
	const byAccount = new Map<string, { account: AccountRef; items: { id: string; events: Events }[] }>();
	for (const d of deliveries) {
		const account = d.batch.forUserId ? await accounts.get(d.batch.forUserId) : null;
		// Unknown or disconnected account: kept for the record, acknowledged, not processed.
		if (!account) {
			outcome.set(d.id, "ignored");
			continue;
		}
		const entry = byAccount.get(account.id) ?? { account, items: [] };
		entry.items.push({ id: d.id, events: dmsAndReads(d.batch, account) });
		byAccount.set(account.id, entry);
	}

	for (const { account, items } of byAccount.values()) {
		for (const chunk of chunks(items)) {
			const ids = chunk.map(i => i.id);
			const dms = chunk.flatMap(i => i.events.dms);
			const reads = chunk.flatMap(i => i.events.reads);
			try {
				if (dms.length || reads.length) {
					await callFor(caller, account.merchantId, "inbox.enqueue", { accountId: account.id, dms, reads }, { timeout: timeoutMs });
				}
				for (const id of ids) outcome.set(id, "queued");
			} catch (err) {
				onError(account, ids, err as Error);
			}
		}
	}

	const now = new Date();
	const marked = (status: "processed" | "ignored", want: HandoverOutcome) => {
		const ids = [...outcome].filter(([, o]) => o === want).map(([id]) => id);
		return updateEach(WebhookDeliveryModel, ids, { $set: { status, processedAt: now } });
	};
	await marked("processed", "queued");
	await marked("ignored", "ignored");
	return deliveries.map(d => outcome.get(d.id) ?? "pending");
}

/** Consecutive runs of deliveries whose events fit in one `inbox.enqueue` call. */
function chunks<T extends { events: { dms: unknown[]; reads: unknown[] } }>(items: T[]): T[][] {
	const out: T[][] = [];
	let current: T[] = [];
	let dms = 0;
	let reads = 0;
	for (const item of items) {
		if (current.length && (dms + item.events.dms.length > MAX_ROWS_PER_CALL || reads + item.events.reads.length > MAX_ROWS_PER_CALL)) {
			out.push(current);
			current = [];
			dms = 0;
			reads = 0;
		}
		current.push(item);
		dms += item.events.dms.length;
		reads += item.events.reads.length;
	}
	if (current.length) out.push(current);
	return out;
}
