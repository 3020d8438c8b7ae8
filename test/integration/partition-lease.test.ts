import { acquireDb, releaseDb } from "../../lib/db.ts";
import { PartitionLeases, LeaseLostError } from "../../lib/partition-lease.ts";
import { PartitionLeaseModel } from "../../models/partition-lease.model.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";

// One writer per partition, decided by unique inserts only (FerretDB's updates are not atomic).

useFreshDatabase("partition_lease");

let now = 1_000_000_000_000; // a slot boundary for slotMs 10 s
const leases = (owner: string) => new PartitionLeases({ queue: "q", owner, slotMs: 10_000, marginMs: 2_000, now: () => now });

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await PartitionLeaseModel.createIndexes();
});
afterAll(async () => {
	await dropDatabase();
	await releaseDb();
});

test("of 20 nodes asking for one partition at once, exactly one gets it; released, another may take it", async () => {
	now = 1_000_000_000_000;
	const results = await Promise.all(Array.from({ length: 20 }, (_, i) => leases(`n${i}`).acquire("acct-1")));
	const held = results.filter(l => l !== null);
	expect(held).toHaveLength(1);
	expect(await leases("late").acquire("acct-1")).toBeNull();
	await held[0]!.release();
	expect(await leases("late").acquire("acct-1")).not.toBeNull();
});

test("a holder claims the slots ahead of a batch; a node that stopped claiming loses the partition when they end", async () => {
	now = 1_000_000_100_000;
	const a = (await leases("a").acquire("acct-2"))!;
	expect(await a.ensure(20_000)).toBe(true); // covers the next 20 s: slots s, s+1, s+2
	expect(a.validUntil - now).toBeGreaterThanOrEqual(20_000);
	now += 25_000; // still inside what a claimed
	expect(await leases("b").acquire("acct-2")).toBeNull();
	expect(() => a.assertHeld()).not.toThrow();
	now += 10_000; // past a's last slot: a must not write; b takes over
	expect(() => a.assertHeld()).toThrow(LeaseLostError);
	const b = await leases("b").acquire("acct-2");
	expect(b).not.toBeNull();
	expect(await a.ensure(1)).toBe(false); // a cannot take back a slot b holds
});

test("won inside the stop margin of a slot, the lease comes with the next slot or not at all", async () => {
	now = 1_000_000_200_000 + 9_500; // 0.5 s before the slot ends, inside the 2 s margin
	const l = (await leases("c").acquire("acct-3"))!;
	expect(l.valid()).toBe(true);
	expect(l.validUntil).toBe(1_000_000_200_000 + 20_000 - 2_000);
	now = 1_000_000_300_000 + 9_500;
	const slot = Math.floor(now / 10_000);
	await PartitionLeaseModel.create({
		_id: `q:acct-4:${slot + 1}`,
		queue: "q",
		partition: "acct-4",
		slot: slot + 1,
		owner: "x",
		expiresAt: new Date(now + 20_000),
	});
	expect(await leases("e").acquire("acct-4")).toBeNull(); // the next slot is someone else's
	expect(await PartitionLeaseModel.countDocuments({ _id: `q:acct-4:${slot}` })).toBe(0); // and e let go of this one
});
