// Small measuring tools shared by the benchmark scenarios. Figures go to stdout as JSON via
// bench/run.ts; progress goes to stderr.

export function progress(line: string): void {
	process.stderr.write(`[bench] ${line}\n`);
}

export function percentile(sortedMs: number[], p: number): number {
	if (sortedMs.length === 0) return 0;
	const idx = Math.min(sortedMs.length - 1, Math.max(0, Math.ceil((p / 100) * sortedMs.length) - 1));
	return Math.round(sortedMs[idx] * 100) / 100;
}

export interface LoadResult {
	requests: number;
	errors: number;
	seconds: number;
	rps: number;
	p50ms: number;
	p99ms: number;
}

/** A closed loop: `concurrency` workers issue `requests` calls in total, timing each one. */
export async function load(call: () => Promise<boolean>, requests: number, concurrency: number): Promise<LoadResult> {
	const latencies: number[] = [];
	let errors = 0;
	let next = 0;
	const started = performance.now();
	await Promise.all(
		Array.from({ length: concurrency }, async () => {
			while (next < requests) {
				next++;
				const t0 = performance.now();
				const ok = await call().catch(() => false);
				latencies.push(performance.now() - t0);
				if (!ok) errors++;
			}
		})
	);
	const seconds = (performance.now() - started) / 1000;
	latencies.sort((a, b) => a - b);
	return {
		requests,
		errors,
		seconds: Math.round(seconds * 1000) / 1000,
		rps: Math.round(requests / seconds),
		p50ms: percentile(latencies, 50),
		p99ms: percentile(latencies, 99),
	};
}

/** Times `fn` `runs` times after `warmup` runs; p50/p99 in ms. */
export async function timeRuns(
	fn: () => Promise<unknown>,
	runs: number,
	warmup = 3
): Promise<{ runs: number; p50ms: number; p99ms: number }> {
	for (let i = 0; i < warmup; i++) await fn();
	const samples: number[] = [];
	for (let i = 0; i < runs; i++) {
		const t0 = performance.now();
		await fn();
		samples.push(performance.now() - t0);
	}
	samples.sort((a, b) => a - b);
	return { runs, p50ms: percentile(samples, 50), p99ms: percentile(samples, 99) };
}
