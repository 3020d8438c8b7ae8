// Group commit: callers add items one by one and each gets its own answer, but the work is done
// for many at once. The first item starts a flush immediately (a lone caller waits for nothing);
// items added while a flush runs wait for it and then go together in the next one. So under load
// the batch grows with the time one flush takes, and the number of round trips per item falls,
// with no timer and no added latency when idle (PostgreSQL's commit_delay without the delay).
//
// `flush` answers one result per item, in order; if it throws, every item of that flush gets the
// error. Used for the raw webhook deliveries (one insert per group), their hand-over to the
// inbox (one call per group) and the webhook rate limit's counter (one compare-and-set per group).

interface Pending<T, R> {
	item: T;
	resolve: (r: R) => void;
	reject: (e: unknown) => void;
}

export class GroupCommit<T, R> {
	private queue: Pending<T, R>[] = [];
	private running: Promise<void> | null = null;
	private readonly flush: (items: T[]) => Promise<R[]>;
	private readonly maxBatch: number;

	constructor(flush: (items: T[]) => Promise<R[]>, { maxBatch = 500 }: { maxBatch?: number } = {}) {
		this.flush = flush;
		this.maxBatch = maxBatch;
	}

	add(item: T): Promise<R> {
		return new Promise<R>((resolve, reject) => {
			this.queue.push({ item, resolve, reject });
			if (!this.running) this.running = this.drain();
		});
	}

	/** Items waiting or being flushed. */
	get size(): number {
		return this.queue.length;
	}

	/** Resolves once everything added so far has been flushed (failures included). */
	async idle(): Promise<void> {
		while (this.running) await this.running;
	}

	private async drain(): Promise<void> {
		try {
			while (this.queue.length) {
				const group = this.queue.splice(0, this.maxBatch);
				try {
					const results = await this.flush(group.map(p => p.item));
					group.forEach((p, i) => p.resolve(results[i]));
				} catch (err) {
					for (const p of group) p.reject(err);
				}
			}
		} finally {
			this.running = null;
		}
	}
}
