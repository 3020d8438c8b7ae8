import type { ServiceBroker } from "moleculer";
import { InboxActivityModel, type InboxActivity } from "../../models/inbox-activity.model.ts";
import type { PartitionQueue, QueueBacklog } from "../../mixins/partition-worker.mixin.ts";
import { applyActivity } from "./writer.ts";
import { deleteEach } from "../../lib/lookups.ts";
import { ACTIONS_APPLIED } from "./conversation-actions.ts";
import type { Tenures } from "./tenure.ts";

// The inbox's queue as the partition worker sees it: partitions are X accounts, a batch is an
// account's oldest pending rows, and applying it is services/inbox/writer.ts. Applied rows are
// deleted (the raw deliveries stay with the webhooks service), so the queue holds only work.

const MAX_ATTEMPTS = 10;

type Row = InboxActivity;

export function inboxQueue(broker: ServiceBroker, isolated: Set<string>, tenures: Tenures): PartitionQueue<Row> {
	return {
		async pendingPartitions(limit) {
			const accounts = (await InboxActivityModel.distinct("accountId", { status: "pending" })) as string[];
			// No account waits behind another's backlog: each look starts somewhere else.
			for (let i = accounts.length - 1; i > 0; i--) {
				const j = Math.floor(Math.random() * (i + 1));
				[accounts[i], accounts[j]] = [accounts[j], accounts[i]];
			}
			return accounts.slice(0, limit);
		},

		takeBatch(accountId, limit) {
			// After a failure the account's rows go one at a time, so one bad row is found and set aside.
			return InboxActivityModel.find({ status: "pending", accountId })
				.sort({ receivedAt: 1, _id: 1 })
				.limit(isolated.has(accountId) ? 1 : limit)
				.lean<Row[]>();
		},

		async applyBatch(accountId, rows, lease) {
			const byMerchant = new Map<string, Row[]>();
			for (const r of rows) byMerchant.set(r.merchantId, [...(byMerchant.get(r.merchantId) ?? []), r]);
			const stillHeld = () => lease.assertHeld();
			const tenure = tenures.of(accountId, lease);
			const results: Record<string, boolean> = {};
			try {
				for (const [merchantId, list] of byMerchant)
					Object.assign(results, (await applyActivity(broker, accountId, merchantId, list, stillHeld, tenure)).actions);
				await deleteEach(
					InboxActivityModel,
					rows.map(r => r._id)
				);
			} catch (err) {
				// A write may have landed that the tenure does not know of: the next batch reads again.
				tenures.drop(accountId);
				throw err;
			}
			isolated.delete(accountId);
			// The requests waiting for their actions (on any inbox node) answer now.
			if (Object.keys(results).length) await broker.broadcast(ACTIONS_APPLIED, { results });
		},

		async failBatch(accountId, rows, error) {
			if (rows.length > 1) {
				isolated.add(accountId);
				return;
			}
			const [row] = rows;
			const attempts = (row.attempts ?? 0) + 1;
			await InboxActivityModel.updateOne(
				{ _id: row._id },
				{ $set: { attempts, lastError: error.message.slice(0, 500), status: attempts >= MAX_ATTEMPTS ? "failed" : "pending" } }
			);
			if (attempts >= MAX_ATTEMPTS)
				broker.logger.error(`inbox queue: row ${row._id} failed ${attempts} times and is set aside: ${error.message}`);
		},

		async backlog(): Promise<QueueBacklog> {
			const [pending, oldest] = await Promise.all([
				InboxActivityModel.countDocuments({ status: "pending" }),
				InboxActivityModel.findOne({ status: "pending" }, { receivedAt: 1 }).sort({ receivedAt: 1 }).lean<Row>(),
			]);
			return { pending, oldestAgeSeconds: oldest ? Math.round((Date.now() - new Date(oldest.receivedAt).getTime()) / 1000) : null };
		},
	};
}
