import { PartitionLeaseModel } from "../models/partition-lease.model.ts";
import { isDuplicateKey } from "./ids.ts";

// One writer per partition, on a database where only inserts into a unique index are atomic.
//
// Time is cut into slots of `slotMs`. The writer of partition P during slot s is the node whose
// insert of "<queue>:<P>:<s>" won; the row is never updated, so nothing non-atomic decides. A
// holder starts a batch only when it holds the slots covering the batch's longest run (claiming
// the next ones ahead), checks again before each write, and stops `marginMs` before its last
// slot ends (room for clock skew between nodes): a busy holder keeps its partition without a
// gap, a dead one loses it when its claimed slots end. A holder with nothing left to do deletes
// its rows, so another node may take P at once.

export interface LeaseOptions {
	queue: string;
	owner: string;
	slotMs: number;
	marginMs: number;
	now?: () => number;
}

export class Lease {
	private lastSlot: number;
	private readonly ids: string[];
	private readonly opts: Required<LeaseOptions>;
	readonly partition: string;

	constructor(opts: Required<LeaseOptions>, partition: string, slot: number) {
		this.opts = opts;
		this.partition = partition;
		this.lastSlot = slot;
		this.ids = [idOf(opts.queue, partition, slot)];
	}

	/** Until when this holder may start a write. */
	get validUntil(): number {
		return (this.lastSlot + 1) * this.opts.slotMs - this.opts.marginMs;
	}

	valid(): boolean {
		return this.opts.now() < this.validUntil;
	}

	/**
	 * Makes sure this holder may write for `ms` more, claiming the next slots ahead as needed
	 * (false: another node has one of them, and this holder must stop at validUntil).
	 */
	async ensure(ms: number): Promise<boolean> {
		while (this.validUntil - this.opts.now() < ms) {
			const next = this.lastSlot + 1;
			if (!(await insertSlot(this.opts, this.partition, next))) return false;
			this.lastSlot = next;
			this.ids.push(idOf(this.opts.queue, this.partition, next));
		}
		return true;
	}

	/** Throws when the lease ran out: the caller must not write (the next holder may be writing). */
	assertHeld(): void {
		if (!this.valid()) throw new LeaseLostError(this.partition);
	}

	async release(): Promise<void> {
		await PartitionLeaseModel.deleteMany({ _id: { $in: this.ids } });
	}
}

/** Transient: the batch is applied again by whoever holds the partition next. */
export class LeaseLostError extends Error {
	readonly retryable = true;
	constructor(partition: string) {
		super(`the lease of ${partition} ran out during a batch`);
		this.name = "LeaseLostError";
	}
}

const idOf = (queue: string, partition: string, slot: number) => `${queue}:${partition}:${slot}`;

async function insertSlot(opts: Required<LeaseOptions>, partition: string, slot: number): Promise<boolean> {
	try {
		await PartitionLeaseModel.create({
			_id: idOf(opts.queue, partition, slot),
			queue: opts.queue,
			partition,
			slot,
			owner: opts.owner,
			expiresAt: new Date((slot + 1) * opts.slotMs),
		});
		return true;
	} catch (err) {
		if (isDuplicateKey(err)) return false;
		throw err;
	}
}

export class PartitionLeases {
	private readonly opts: Required<LeaseOptions>;

	constructor(opts: LeaseOptions) {
		this.opts = { now: Date.now, ...opts };
	}

	/** The partition for the current slot, or null when another node holds it. */
	async acquire(partition: string): Promise<Lease | null> {
		const slot = Math.floor(this.opts.now() / this.opts.slotMs);
		if (!(await insertSlot(this.opts, partition, slot))) return null;
		const lease = new Lease(this.opts, partition, slot);
		// Won near the end of this slot: without the next one there is no time to write.
		if (!lease.valid() && !(await lease.ensure(1))) {
			await lease.release();
			return null;
		}
		return lease;
	}

	/** Deletes rows of slots long past (left by nodes that died holding them). */
	async prune(olderThanMs = 60_000): Promise<number> {
		const res = await PartitionLeaseModel.deleteMany({ expiresAt: { $lt: new Date(this.opts.now() - olderThanMs) } });
		return res.deletedCount ?? 0;
	}
}
