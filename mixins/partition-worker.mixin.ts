import type { Service, ServiceSchema } from "moleculer";
import { PartitionLeases, type Lease } from "../lib/partition-lease.ts";

// A queue drained by workers on every node that runs the service, one writer per partition at a
// time (lib/partition-lease.ts), in batches. Waiting in the queue is not a request: nothing times
// out while a backlog drains, each batch has its own deadline (the lease), and a failed batch is
// tried again later, never counted against the whole service. The service provides the queue's
// reads and the batch's work as methods (PartitionQueue); this mixin runs the loops, wakes them
// when work is queued, logs progress with counts, and reports the backlog (action `health`, which /health/ready shows).

export interface QueueBacklog {
	pending: number;
	oldestAgeSeconds: number | null;
}

/** Methods a service using the worker defines. */
export interface PartitionQueue<Row> {
	/** Partitions with pending rows, oldest work first. */
	pendingPartitions(limit: number): Promise<string[]>;
	/** The partition's next rows, in the order they must be applied. */
	takeBatch(partition: string, limit: number): Promise<Row[]>;
	/** Applies the rows and removes them from the queue; throws to have them tried again. */
	applyBatch(partition: string, rows: Row[], lease: Lease): Promise<void>;
	/** A batch failed for a reason of its own (not an outage): count the attempt. */
	failBatch(partition: string, rows: Row[], error: Error): Promise<void>;
	backlog(): Promise<QueueBacklog>;
}

export interface PartitionWorkerOptions {
	/** Lease namespace and log label, e.g. "inbox". */
	queue: string;
	/** Broadcast event that says rows were queued (wakes idle workers on every node). */
	wakeEvent: string;
	/** Read when the service is created (after the configuration is loaded). */
	tuning?: () => WorkerTuning;
	/** The partitions a wake event names (null: any), so a holder waiting on its own partition is woken only for it. */
	wakePartitions?: (payload: unknown) => string[] | null;
}

export interface WorkerTuning {
	/** Loops per node; each holds at most one partition at a time. */
	concurrency?: number;
	batchSize?: number;
	slotMs?: number;
	marginMs?: number;
	/** The longest a batch may take: a batch starts only with this much lease ahead. */
	maxBatchMs?: number;
	/** Longest sleep of an idle loop between looks at the queue (a wake event cuts it short). */
	idleMs?: number;
	/**
	 * How long a holder whose partition ran dry keeps it, waiting for more: the next row (an
	 * agent's action waiting for its answer, the customer's next DM) then costs one batch, not a
	 * new lease. Work queued for another partition ends the wait at once.
	 */
	holdMs?: number;
	progressEveryMs?: number;
}

interface WorkerState {
	stopping: boolean;
	loops: Promise<void>[];
	waiters: Set<(partitions: string[] | null) => void>;
	held: Set<string>;
	backoff: Map<string, number>;
	applied: number;
	failedBatches: number;
	lastError: string | null;
	windowStart: number;
	windowApplied: number;
	lastRate: number;
	timer: NodeJS.Timeout | null;
	leases: PartitionLeases;
	tuning: Required<WorkerTuning>;
}

/** Errors that say "not now" (a database or a service away, a timeout), not "this row is bad". */
export function isTransient(err: unknown): boolean {
	const e = err as { retryable?: boolean; name?: string; code?: unknown; type?: string };
	if (e?.retryable) return true;
	// FerretDB reports its backend's outages (PostgreSQL refusing connections, a restart) as
	// internal errors whose message names the cause: they say "not now" about every row.
	const message = (err as Error | undefined)?.message ?? "";
	if (
		/failed to connect to|too many clients|connection refused|the database system is (starting up|shutting down)|terminating connection/i.test(
			message
		)
	)
		return true;
	const name = e?.name ?? "";
	return /LeaseLost|Mongo(Network|ServerSelection|NotConnected|PoolCleared|Topology)|MongooseServerSelection|RequestTimeout|ServiceNotAvailable|ServiceNotFound|BrokerDisconnected|GracefulStopTimeout/.test(
		name
	);
}

export function PartitionWorkerMixin(opts: PartitionWorkerOptions): Partial<ServiceSchema> {
	const defaults: Required<WorkerTuning> = {
		concurrency: 2,
		batchSize: 50,
		slotMs: 10_000,
		marginMs: 2_000,
		maxBatchMs: 20_000,
		idleMs: 1_000,
		holdMs: 3_000,
		progressEveryMs: 10_000,
	};

	type Self = Service & PartitionQueue<unknown> & { worker: WorkerState };

	function sleep(self: Self, ms: number): Promise<void> {
		return new Promise(resolve => {
			const done = () => {
				clearTimeout(timer);
				self.worker.waiters.delete(done);
				resolve();
			};
			const timer = setTimeout(done, ms);
			self.worker.waiters.add(done);
		});
	}

	function wake(self: Self, partitions: string[] | null = null) {
		for (const done of [...self.worker.waiters]) done(partitions);
	}

	/**
	 * Starts listening for work on `partition` (before looking at the queue, so none is missed):
	 * `wait(ms)` is true when some was queued for it, false on the time limit or work elsewhere.
	 */
	function watch(self: Self, partition: string) {
		let woken: boolean | null = null;
		let settle: ((v: boolean) => void) | null = null;
		const listener = (partitions: string[] | null) => {
			const mine = partitions === null || partitions.includes(partition);
			if (woken === null || mine) woken = mine;
			if (settle) settle(woken);
		};
		self.worker.waiters.add(listener);
		const stop = () => self.worker.waiters.delete(listener);
		return {
			stop,
			wait(ms: number): Promise<boolean> {
				if (woken !== null) {
					stop();
					return Promise.resolve(woken);
				}
				return new Promise<boolean>(resolve => {
					const timer = setTimeout(() => settle!(false), ms);
					settle = v => {
						clearTimeout(timer);
						stop();
						resolve(v);
					};
				});
			},
		};
	}

	async function acquireSome(self: Self): Promise<Lease | null> {
		const now = Date.now();
		const candidates = await self.pendingPartitions(20);
		for (const partition of candidates) {
			if (self.worker.held.has(partition) || (self.worker.backoff.get(partition) ?? 0) > now) continue;
			self.worker.held.add(partition);
			const lease = await self.worker.leases.acquire(partition).catch(err => {
				self.worker.held.delete(partition);
				throw err;
			});
			if (lease) return lease;
			self.worker.held.delete(partition);
		}
		return null;
	}

	/** Drains one partition while this node holds it and it has rows. */
	async function drain(self: Self, lease: Lease): Promise<void> {
		const { partition } = lease;
		let failures = 0;
		// A batch starts only when the lease covers its longest run; it checks again before writing.
		while (!self.worker.stopping && (await lease.ensure(self.worker.tuning.maxBatchMs))) {
			const more = watch(self, partition);
			const rows = await self.takeBatch(partition, self.worker.tuning.batchSize).catch(err => {
				more.stop();
				throw err;
			});
			if (!rows.length) {
				// Dry: keep the partition a moment (its slots are claimed already) for the next row.
				if (await more.wait(self.worker.tuning.holdMs)) continue;
				return;
			}
			more.stop();
			try {
				await self.applyBatch(partition, rows, lease);
				self.worker.applied += rows.length;
				self.worker.windowApplied += rows.length;
				self.worker.backoff.delete(partition);
				failures = 0;
			} catch (err) {
				const error = err as Error;
				self.worker.failedBatches++;
				self.worker.lastError = error.message;
				failures++;
				const transient = isTransient(err);
				self.logger.warn(
					`${opts.queue} queue: a batch of ${rows.length} for ${partition} failed (${transient ? "will retry" : "attempt counted"}): ${error.message}`
				);
				if (!transient) await self.failBatch(partition, rows, error).catch(() => {});
				// Back off this partition; other partitions go on.
				self.worker.backoff.set(partition, Date.now() + Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
				return;
			}
		}
	}

	async function loop(self: Self): Promise<void> {
		while (!self.worker.stopping) {
			let lease: Lease | null = null;
			try {
				lease = await acquireSome(self);
				if (lease) await drain(self, lease);
			} catch (err) {
				self.worker.lastError = (err as Error).message;
				self.logger.warn(`${opts.queue} queue: ${(err as Error).message}`);
				await sleep(self, self.worker.tuning.idleMs * 2);
			} finally {
				if (lease) {
					self.worker.held.delete(lease.partition);
					await lease.release().catch(() => {});
				}
			}
			if (!lease && !self.worker.stopping) await sleep(self, self.worker.tuning.idleMs);
		}
	}

	async function progress(self: Self) {
		const now = Date.now();
		const seconds = (now - self.worker.windowStart) / 1000;
		const applied = self.worker.windowApplied;
		self.worker.lastRate = seconds > 0 ? applied / seconds : 0;
		self.worker.windowStart = now;
		self.worker.windowApplied = 0;
		const backlog = await self.backlog().catch(() => null);
		if (backlog && self.broker.isMetricsEnabled()) {
			self.broker.metrics.set("mktx.queue.pending", backlog.pending, { queue: opts.queue });
			self.broker.metrics.set("mktx.queue.oldest_age_seconds", backlog.oldestAgeSeconds ?? 0, { queue: opts.queue });
			self.broker.metrics.set("mktx.queue.rate_per_second", self.worker.lastRate, { queue: opts.queue });
		}
		if (applied || backlog?.pending) {
			self.logger.info(
				`${opts.queue} queue: ${applied} applied in ${Math.round(seconds)} s (${self.worker.lastRate.toFixed(1)}/s)` +
					(backlog ? `; backlog ${backlog.pending} pending, oldest ${backlog.oldestAgeSeconds ?? 0} s` : "")
			);
		}
		await self.worker.leases.prune().catch(() => {});
	}

	return {
		created(this: Service) {
			const self = this as unknown as Self;
			const tuning = { ...defaults, ...opts.tuning?.() };
			self.worker = {
				stopping: false,
				loops: [],
				waiters: new Set(),
				held: new Set(),
				backoff: new Map(),
				applied: 0,
				failedBatches: 0,
				lastError: null,
				windowStart: Date.now(),
				windowApplied: 0,
				lastRate: 0,
				timer: null,
				tuning,
				leases: new PartitionLeases({ queue: opts.queue, owner: this.broker.nodeID, slotMs: tuning.slotMs, marginMs: tuning.marginMs }),
			};
			if (this.broker.isMetricsEnabled()) {
				for (const name of ["mktx.queue.pending", "mktx.queue.oldest_age_seconds", "mktx.queue.rate_per_second"]) {
					if (!this.broker.metrics.getMetric(name)) this.broker.metrics.register({ name, type: "gauge", labelNames: ["queue"] });
				}
			}
		},

		actions: {
			/** The backlog of this queue and this node's drain rate (in /health/ready's details, for ops). */
			health: {
				visibility: "public",
				async handler(this: Service) {
					const self = this as unknown as Self;
					const backlog = await self.backlog();
					return {
						queue: opts.queue,
						...backlog,
						ratePerSecond: Number(self.worker.lastRate.toFixed(2)),
						appliedSinceStart: self.worker.applied,
						failedBatches: self.worker.failedBatches,
						lastError: self.worker.lastError,
					};
				},
			},
		},

		events: {
			[opts.wakeEvent](this: Service, ctx: { params: unknown }) {
				wake(this as unknown as Self, opts.wakePartitions?.(ctx.params) ?? null);
			},
			// Loops start once the whole node is up: a batch calls other services.
			"$broker.started"(this: Service) {
				const self = this as unknown as Self;
				if (self.worker.stopping || self.worker.loops.length) return;
				for (let i = 0; i < self.worker.tuning.concurrency; i++) self.worker.loops.push(loop(self));
				self.worker.timer = setInterval(() => void progress(self), self.worker.tuning.progressEveryMs);
				self.worker.timer.unref();
			},
		},

		methods: {
			wakeWorkers(this: Service) {
				wake(this as unknown as Self);
			},
		},

		async stopped(this: Service) {
			const self = this as unknown as Self;
			self.worker.stopping = true;
			if (self.worker.timer) clearInterval(self.worker.timer);
			wake(self);
			// The batch in flight finishes (it has its own deadline); none is abandoned half-way.
			await Promise.all(self.worker.loops);
		},
	};
}
