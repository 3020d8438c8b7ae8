import { connect, type KV, type NatsConnection } from "nats";

// Fixed-window counters shared by every node that counts against the same limit. With NATS,
// the counter lives in a JetStream KV bucket and each increment is a compare-and-set on the
// key's revision, so two gateways never both take the last slot. Without a transporter there
// is one node, and process memory is the whole truth.

export interface Hit {
	allowed: boolean;
	limit: number;
	remaining: number;
	/** When the current window ends (epoch ms). */
	resetAt: number;
}

export interface HitOptions {
	now?: number;
	cost?: number;
}

export interface CounterStore {
	/**
	 * Counts `cost` hits (default 1) against `key` when they fit under `limit` in the current
	 * window of `windowMs`; when they do not fit, nothing is counted.
	 */
	hit(key: string, limit: number, windowMs: number, opts?: HitOptions): Promise<Hit>;
	close(): Promise<void>;
}

function windowOf(now: number, windowMs: number) {
	const start = Math.floor(now / windowMs) * windowMs;
	return { index: start / windowMs, resetAt: start + windowMs };
}

export class MemoryCounterStore implements CounterStore {
	private readonly counts = new Map<string, { count: number; resetAt: number }>();

	async hit(key: string, limit: number, windowMs: number, { now = Date.now(), cost = 1 }: HitOptions = {}): Promise<Hit> {
		const { resetAt } = windowOf(now, windowMs);
		let entry = this.counts.get(key);
		if (!entry || entry.resetAt !== resetAt) {
			entry = { count: 0, resetAt };
			this.counts.set(key, entry);
			if (this.counts.size > 50_000) this.sweep(now);
		}
		if (entry.count + cost > limit) return { allowed: false, limit, remaining: Math.max(0, limit - entry.count), resetAt };
		entry.count += cost;
		return { allowed: true, limit, remaining: limit - entry.count, resetAt };
	}

	private sweep(now: number) {
		for (const [key, entry] of this.counts) if (entry.resetAt <= now) this.counts.delete(key);
	}

	async close() {}
}

/** KV keys allow only [-/_=.a-zA-Z0-9]; ids and merchant names are hex-encoded to fit. */
function kvKey(key: string, index: number): string {
	return `${Buffer.from(key).toString("hex")}.${index}`;
}

export class NatsKvCounterStore implements CounterStore {
	private readonly nc: NatsConnection;
	private readonly kv: KV;

	private constructor(nc: NatsConnection, kv: KV) {
		this.nc = nc;
		this.kv = kv;
	}

	/** @param ttlMs how long a window's counter is kept; at least the longest window used. */
	static async connect(servers: string, bucket: string, ttlMs = 24 * 3600_000 + 60_000): Promise<NatsKvCounterStore> {
		const nc = await connect({ servers, name: "mkt-x-rate-limits" });
		const kv = await nc.jetstream().views.kv(bucket, { history: 1, ttl: ttlMs });
		return new NatsKvCounterStore(nc, kv);
	}

	async hit(key: string, limit: number, windowMs: number, { now = Date.now(), cost = 1 }: HitOptions = {}): Promise<Hit> {
		const { index, resetAt } = windowOf(now, windowMs);
		const k = kvKey(key, index);
		for (let attempt = 0; attempt < 50; attempt++) {
			const entry = await this.kv.get(k);
			const count = entry && entry.operation === "PUT" ? Number(entry.string()) || 0 : 0;
			if (count + cost > limit) return { allowed: false, limit, remaining: Math.max(0, limit - count), resetAt };
			try {
				if (!entry) await this.kv.create(k, String(count + cost));
				else await this.kv.update(k, String(count + cost), entry.revision);
				return { allowed: true, limit, remaining: limit - count - cost, resetAt };
			} catch {
				// Another node moved the counter first: read it again.
			}
		}
		throw new Error(`rate-limit counter ${key} is too contended`);
	}

	async close() {
		await this.nc.drain();
	}
}

/** NATS KV when the broker has a NATS transporter, memory otherwise. */
export async function createCounterStore(transporter: string | null, bucket: string): Promise<CounterStore> {
	if (transporter && /^nats:\/\//.test(transporter)) return NatsKvCounterStore.connect(transporter, bucket);
	return new MemoryCounterStore();
}
