// The counting itself, pure: facts → a quarter row, quarter rows → a day row. Rows carry a
// total (`n` facts, values summing to `s`) and the same per breakdown key in sorted cells, so two
// computations of the same input are equal field by field (what the check loops compare).

export interface QuarterCell {
	k: string;
	n: number;
	s: number;
}

export interface DayCell {
	k: string;
	q: number;
	n: number;
	s: number;
}

export interface QuarterCount {
	n: number;
	s: number;
	cells: QuarterCell[];
}

export interface DayCount {
	n: number;
	s: number;
	/** Key "" is the total per quarter; other keys are breakdowns. Sorted by key, then quarter. */
	cells: DayCell[];
}

/** A totals row's content: every type's count and sum for one merchant, account and UTC day. */
export type DayTotals = Record<string, { n: number; s: number }>;
/** The same per quarter, flat and sparse: type → [q, n, s, q, n, s, ...] by quarter. */
export type DayQuarters = Record<string, number[]>;

const byKey = (a: { k: string }, b: { k: string }) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0);

/** A quarter row being counted, one fact at a time (the rebuild streams millions of facts). */
export interface QuarterTally {
	n: number;
	s: number;
	cells: Map<string, QuarterCell>;
}

export const newTally = (): QuarterTally => ({ n: 0, s: 0, cells: new Map() });

export function tallyFact(t: QuarterTally, f: { dims?: string[] | null; value?: number | null }): void {
	const v = f.value ?? 0;
	t.n++;
	t.s += v;
	for (const k of f.dims ?? []) {
		const c = t.cells.get(k) ?? { k, n: 0, s: 0 };
		c.n++;
		c.s += v;
		t.cells.set(k, c);
	}
}

export const finishTally = (t: QuarterTally): QuarterCount => ({ n: t.n, s: t.s, cells: [...t.cells.values()].sort(byKey) });

export function countQuarter(facts: { dims?: string[] | null; value?: number | null }[]): QuarterCount {
	const t = newTally();
	for (const f of facts) tallyFact(t, f);
	return finishTally(t);
}

export function countDay(rows: { q: number; n: number; s: number; cells?: QuarterCell[] | null }[]): DayCount {
	let n = 0;
	let s = 0;
	const cells: DayCell[] = [];
	for (const r of rows) {
		if (!r.n) continue;
		n += r.n;
		s += r.s;
		cells.push({ k: "", q: r.q, n: r.n, s: r.s });
		for (const c of r.cells ?? []) cells.push({ k: c.k, q: r.q, n: c.n, s: c.s });
	}
	cells.sort((a, b) => byKey(a, b) || a.q - b.q);
	return { n, s, cells };
}

/** The totals row of a merchant, account and day, from its day rows (one per type), as stored. */
export function totalsRowOf(
	dayRows: { type: string; n: number; s: number; cells?: DayCell[] | null }[]
): { totals: string; quarters: string } | null {
	const { totals, quarters } = totalsOf(dayRows);
	return Object.keys(totals).length ? { totals: canonical(totals), quarters: canonical(quarters) } : null;
}

export function totalsOf(dayRows: { type: string; n: number; s: number; cells?: DayCell[] | null }[]): {
	totals: DayTotals;
	quarters: DayQuarters;
} {
	const totals: DayTotals = {};
	const quarters: DayQuarters = {};
	for (const r of [...dayRows].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0))) {
		if (!r.n) continue;
		totals[r.type] = { n: r.n, s: r.s };
		quarters[r.type] = (r.cells ?? [])
			.filter(c => c.k === "")
			.sort((a, b) => a.q - b.q)
			.flatMap(c => [c.q, c.n, c.s]);
	}
	return { totals, quarters };
}

/** JSON with sorted keys: equal content gives equal text, whatever order the database kept. */
export function canonical(value: unknown): string {
	if (value instanceof Date) return JSON.stringify(value.toISOString());
	if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
	if (value && typeof value === "object") {
		const o = value as Record<string, unknown>;
		return `{${Object.keys(o)
			.filter(k => o[k] !== undefined)
			.sort()
			.map(k => `${JSON.stringify(k)}:${canonical(o[k])}`)
			.join(",")}}`;
	}
	return JSON.stringify(value ?? null);
}

export function sameQuarter(
	row: { n?: number | null; s?: number | null; cells?: QuarterCell[] | null } | null,
	want: QuarterCount
): boolean {
	if (!row) return want.n === 0;
	const cells = row.cells ?? [];
	return (
		row.n === want.n &&
		row.s === want.s &&
		cells.length === want.cells.length &&
		cells.every((c, i) => c.k === want.cells[i].k && c.n === want.cells[i].n && c.s === want.cells[i].s)
	);
}

export function sameDay(row: { n?: number | null; s?: number | null; cells?: DayCell[] | null } | null, want: DayCount): boolean {
	if (!row) return want.n === 0;
	const cells = row.cells ?? [];
	return (
		row.n === want.n &&
		row.s === want.s &&
		cells.length === want.cells.length &&
		cells.every((c, i) => c.k === want.cells[i].k && c.q === want.cells[i].q && c.n === want.cells[i].n && c.s === want.cells[i].s)
	);
}
