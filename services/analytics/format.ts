// Figures as the dashboard shows them: durations as "3m 45s", growth and shares in percent with
// one decimal.

/** One decimal, halves away from zero (2.25 → 2.3, -2.25 → -2.3). */
export function round1(x: number): number {
	const r = Math.round(Math.abs(x) * 10 + 1e-9) / 10;
	return x < 0 ? -r : r;
}

/**
 * Growth of `current` over `previous` in percent, one decimal; null when the previous period
 * had none (no base to grow from).
 */
export function growth(current: number, previous: number): number | null {
	if (previous === 0) return null;
	return round1(((current - previous) / previous) * 100);
}

/** `part` of `whole` in percent, one decimal; 0 when `whole` is 0 (the contract's rates). */
export function percent(part: number, whole: number): number {
	return whole === 0 ? 0 : round1((part / whole) * 100);
}

/** Seconds as "45s", "3m 45s", "1h 0m 5s", "2d 3h 0m 0s" (rounded to the second); null stays null. */
export function formatDuration(seconds: number | null): string | null {
	if (seconds === null || !Number.isFinite(seconds)) return null;
	let rest = Math.max(0, Math.round(seconds));
	const parts: string[] = [];
	for (const [unit, size] of [
		["d", 86_400],
		["h", 3_600],
		["m", 60],
	] as const) {
		const n = Math.floor(rest / size);
		rest -= n * size;
		if (n > 0 || parts.length) parts.push(`${n}${unit}`);
	}
	parts.push(`${rest}s`);
	return parts.join(" ");
}

/** A mean in whole seconds, or null when there is nothing to average. */
export function averageSeconds(sum: number, count: number): number | null {
	return count > 0 ? Math.round(sum / count) : null;
}
