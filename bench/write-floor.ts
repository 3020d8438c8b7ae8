import type { Db } from "mongodb";
import { activityKeys } from "../lib/activity-buckets.ts";
import { UPDATE_CHUNK } from "../lib/bulk-updates.ts";

// The least database work any ingest pipeline must do per event on this engine, timed: each
// event's message stored, and the figures of its conversation and of its contact written, by the
// account's one writer (FerretDB applies an update as read-modify-write, so two writers of one
// document lose updates: the figures of an account have one writer at a time; docs/ingest.md).
// Everything else the product does is left out — no reads (as if every figure were already in
// memory), no queue, no acknowledgement, no events, no settle marks — and what is left is done as
// cheaply as the engine allows: batches of 100 events, one insertMany of their messages, one
// update statement per touched conversation and contact, bulkWrites of UPDATE_CHUNK statements
// with up to 4 in flight. Its events per minute over the bare verify+insert handler's bound the
// ratio any such pipeline can reach against that handler here.

const BATCH = 100;
const IN_FLIGHT = 4;

export interface Customer {
	contactId: string;
	conversationId: string;
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
	let next = 0;
	await Promise.all(
		Array.from({ length: Math.min(limit, items.length) }, async () => {
			while (next < items.length) await fn(items[next++]);
		})
	);
}

export async function writeFloor(
	db: Db,
	opts: { merchantId: string; accountId: string; customers: Customer[]; events: number; tag: string }
): Promise<{ events: number; seconds: number; eventsPerMinute: number; rowsWrittenPerEvent: number; commandsPerEvent: number }> {
	const { merchantId, accountId, customers, events, tag } = opts;
	const messages = db.collection("messages");
	let statements = 0;
	let commands = 0;
	const t0 = performance.now();
	for (let first = 0; first < events; first += BATCH) {
		const at = new Date();
		const batch = Array.from({ length: Math.min(BATCH, events - first) }, (_, k) => first + k);
		const docs = batch.map(i => {
			const c = customers[i % customers.length];
			return {
				_id: `${tag}${i}`,
				merchantId,
				accountId,
				conversationId: c.conversationId,
				contactId: c.contactId,
				direction: "inbound",
				type: "text",
				content: `Shop ơi, đơn ${i} giao chưa?`,
				attachments: [],
				twitterMessageId: `${tag}${i}`,
				status: "received",
				sentAt: at,
			};
		});
		await messages.insertMany(docs as never[], { ordered: false });
		commands++;
		const touched = [...new Set(batch.map(i => customers[i % customers.length]))];
		const set = { lastMessageAt: at, lastInboundAt: at, awaitingReplySince: at, activityAt: at, activityKeys: activityKeys(at) };
		const ops = [
			...touched.map(c => ({
				coll: "conversations",
				filter: { _id: c.conversationId },
				update: { $set: { ...set, messageCount: first } },
			})),
			...touched.map(c => ({ coll: "contacts", filter: { _id: c.contactId }, update: { $set: { ...set, messagesReceived: first } } })),
		];
		const chunks: (typeof ops)[] = [];
		for (let i = 0; i < ops.length; i += UPDATE_CHUNK) chunks.push(ops.slice(i, i + UPDATE_CHUNK));
		// A chunk holds statements of one collection (a bulkWrite is per collection).
		const byCollection = chunks.flatMap(chunk =>
			["conversations", "contacts"]
				.map(coll => chunk.filter(o => o.coll === coll))
				.filter(part => part.length)
				.map(part => ({ coll: part[0].coll, part }))
		);
		await inParallel(byCollection, IN_FLIGHT, ({ coll, part }) =>
			db.collection(coll).bulkWrite(
				part.map(o => ({ updateOne: { filter: o.filter as never, update: o.update } })),
				{ ordered: false }
			)
		);
		statements += ops.length;
		commands += byCollection.length;
	}
	const seconds = (performance.now() - t0) / 1000;
	const round = (n: number) => Math.round(n * 100) / 100;
	return {
		events,
		seconds: round(seconds),
		eventsPerMinute: Math.round((events / seconds) * 60),
		rowsWrittenPerEvent: round((statements + events) / events),
		commandsPerEvent: round(commands / events),
	};
}
