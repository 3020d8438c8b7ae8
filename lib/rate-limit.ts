import { ServiceUnavailableError } from "./errors.ts";
import { connect, type KV, type NatsConnection } from "nats";
import { GroupCommit } from "./group-commit.ts";

// Sliding-window counters shared by every node that counts against the same limit: a limit of
// N per window holds over ANY window of that length, not only over fixed minutes (a fixed
// window lets 2N through across a boundary). The window is cut into 60 slots; a hit is allowed
// when the slots it shares a window with (the current one and the 60 before it) hold fewer than
// N, so the limit holds over every window, at the price of counting up to one slot (1/60 of the
// window) longer than needed. With NATS, the slots live in one JetStream KV entry per key and
// each change is a compare-and-set on its revision, so two gateways never both take the last
// slot. Without a transporter there is one node, and process memory is the whole truth.

export interface Hit {
	allowed: boolean;
	limit: number;
	remaining: number;
	/**
	 * Allowed: when the oldest counted hit leaves the window (the earliest moment `remaining`
	 * grows). Refused: when enough has left for this hit to fit (epoch ms).
	 */
	resetAt: number;
}

export interface HitOptions {
	now?: number;
	cost?: number;
}

export interface CounterStore {
	/**
	 * Counts `cost` hits (default 1) against `key` when they fit under `limit` in the window of
	 * `windowMs` ending now; when they do not fit, nothing is counted.
	 */
	hit(key: string, limit: number, windowMs: number, opts?: HitOptions): Promise<Hit>;
	close(): Promise<void>;
}

const SLOTS = 60;

interface PendingHit {
	limit: number;
	windowMs: number;
	now: number;
	cost: number;
}

/** Counted slots: [slot index, hits] pairs, oldest first. */
export type Slots = [number, number][];

/**
 * One hit against a key's slots: the pure rule both stores apply. `next` is the state to keep
 * (null when the hit is refused: nothing changes).
 */
export function slide(slots: Slots, limit: number, windowMs: number, now: number, cost: number): { hit: Hit; next: Slots | null } {
	const slotMs = windowMs / SLOTS;
	const current = Math.floor(now / slotMs);
	const live = slots.filter(([index]) => index >= current - SLOTS);
	const used = live.reduce((sum, [, n]) => sum + n, 0);
	const leaves = (index: number) => (index + SLOTS + 1) * slotMs;
	if (used + cost > limit) {
		let freed = 0;
		let resetAt = now + windowMs;
		for (const [index, n] of live) {
			freed += n;
			if (used - freed + cost <= limit) {
				resetAt = leaves(index);
				break;
			}
		}
		return { hit: { allowed: false, limit, remaining: Math.max(0, limit - used), resetAt }, next: null };
	}
	const next: Slots = live.map(([index, n]) => [index, n]);
	const last = next[next.length - 1];
	if (last && last[0] === current) last[1] += cost;
	else next.push([current, cost]);
	return { hit: { allowed: true, limit, remaining: limit - used - cost, resetAt: leaves(next[0][0]) }, next };
}

export class MemoryCounterStore implements CounterStore {
	private readonly slots = new Map<string, { slots: Slots; windowMs: number }>();

	async hit(key: string, limit: number, windowMs: number, { now = Date.now(), cost = 1 }: HitOptions = {}): Promise<Hit> {
		const { hit, next } = slide(this.slots.get(key)?.slots ?? [], limit, windowMs, now, cost);
		if (next) {
			this.slots.set(key, { slots: next, windowMs });
			if (this.slots.size > 50_000) this.sweep(now);
		}
		return hit;
	}

	private sweep(now: number) {
		for (const [key, { slots, windowMs }] of this.slots) {
			const newest = slots[slots.length - 1]?.[0] ?? 0;
			if ((newest + SLOTS + 1) * (windowMs / SLOTS) <= now) this.slots.delete(key);
		}
	}

	async close() {}
}

/** KV keys allow only [-/_=.a-zA-Z0-9]; ids and merchant names are hex-encoded to fit. */
function kvKey(key: string): string {
	return `sw.${Buffer.from(key).toString("hex")}`;
}

function readSlots(text: string): Slots {
	try {
		const parsed = JSON.parse(text) as unknown;
		return Array.isArray(parsed) ? (parsed.filter(p => Array.isArray(p) && p.length === 2) as Slots) : [];
	} catch {
		return [];
	}
}

export class NatsKvCounterStore implements CounterStore {
	private readonly nc: NatsConnection;
	private readonly kv: KV;
	/** The deployment's namespace: deployments (or test files) sharing a NATS never share a count. */
	private readonly scope: string;
	/** Hits on a key waiting for (or in) its current compare-and-set, per key. */
	private readonly groups = new Map<string, GroupCommit<PendingHit, Hit>>();

	private constructor(nc: NatsConnection, kv: KV, scope: string) {
		this.nc = nc;
		this.kv = kv;
		this.scope = scope;
	}

	/** @param ttlMs how long a window's counter is kept; at least the longest window used. */
	static async connect(servers: string, bucket: string, scope = "", ttlMs = 24 * 3600_000 + 60_000): Promise<NatsKvCounterStore> {
		const nc = await connect({ servers, name: "mkt-x-rate-limits" });
		const kv = await nc.jetstream().views.kv(bucket, { history: 1, ttl: ttlMs });
		return new NatsKvCounterStore(nc, kv, scope);
	}

	async hit(key: string, limit: number, windowMs: number, { now = Date.now(), cost = 1 }: HitOptions = {}): Promise<Hit> {
		const k = kvKey(this.scope ? `${this.scope}:${key}` : key);
		let group = this.groups.get(k);
		if (!group) {
			group = new GroupCommit<PendingHit, Hit>(hits => this.hitMany(k, hits), { maxBatch: 1000 });
			this.groups.set(k, group);
		}
		return group.add({ limit, windowMs, now, cost });
	}

	/**
	 * The hits on one key that arrived together, applied in order to one read of its slots and
	 * written with one compare-and-set: a burst on a hot key (X's webhook events) costs a round
	 * trip per group, not a collision per hit. Each hit is still judged on its own, in order.
	 */
	private async hitMany(k: string, hits: PendingHit[]): Promise<Hit[]> {
		try {
			for (let attempt = 0; attempt < 100; attempt++) {
				const entry = await this.kv.get(k);
				let slots = entry && entry.operation === "PUT" ? readSlots(entry.string()) : [];
				let changed = false;
				const answers = hits.map(h => {
					const { hit, next } = slide(slots, h.limit, h.windowMs, h.now, h.cost);
					if (next) {
						slots = next;
						changed = true;
					}
					return hit;
				});
				if (!changed) return answers;
				try {
					if (!entry) await this.kv.create(k, JSON.stringify(slots));
					else await this.kv.update(k, JSON.stringify(slots), entry.revision);
					return answers;
				} catch {
					// Another node moved the counter first: read it again after a short, jittered pause,
					// so gateways colliding on one key spread out instead of colliding again at once.
					await new Promise(r => setTimeout(r, Math.random() * Math.min(50, 2 ** Math.min(attempt, 6))));
				}
			}
		} finally {
			if (this.groups.get(k)?.size === 0) this.groups.delete(k);
		}
		// Not the caller's fault and not a reason to fail the request blindly: try again later.
		throw new ServiceUnavailableError(`rate-limit counter ${k} is too contended`);
	}

	async close() {
		await this.nc.drain();
	}
}

/** NATS KV when the broker has a NATS transporter, memory otherwise. */
export async function createCounterStore(transporter: string | null, bucket: string, scope = ""): Promise<CounterStore> {
	if (transporter && /^nats:\/\//.test(transporter)) return NatsKvCounterStore.connect(transporter, bucket, scope);
	return new MemoryCounterStore();
}
