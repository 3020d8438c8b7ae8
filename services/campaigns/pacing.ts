// When will a campaign be done? A simulation of its sends under the send limits (the rules of
// services/x/send-limits.ts with what each has already used), as fast as the limits allow.
// Rolling windows: a send may go when fewer than `limit` counted sends are younger than the
// window. Sends already made are taken to leave their window at `resetAt` (the moment the
// oldest leaves), which makes the figure a slightly optimistic estimate. Shared rules (the
// merchant's share, the app's budget) hold the sends of every account together.

export interface QuotaRule {
	name: string;
	scope: "account" | "merchant" | "app";
	limit: number;
	windowMs: number;
	used: number;
	resetAt: Date | null;
}

export interface AccountLoad {
	accountId: string;
	recipients: number;
	/** The rules of a campaign send from this account, with their usage now (x.checkSendAllowed). */
	rules: QuotaRule[];
}

export interface AccountEstimate {
	accountId: string;
	recipients: number;
	/** How many can go before endAt (all when there is none). */
	sendable: number;
	/** When its last sendable message goes; null when none can. */
	finishAt: Date | null;
}

export interface Estimate {
	startAt: Date;
	recipients: number;
	sendable: number;
	/** Left unsent at endAt. */
	expiring: number;
	/** When the last message goes out, or null when some recipient can never be reached. */
	finishAt: Date | null;
	accounts: AccountEstimate[];
}

/** The counted sends of one rule: the newest `limit` of them are enough to decide the next. */
class Window {
	private times: number[] = [];
	private readonly limit: number;
	private readonly windowMs: number;

	constructor(rule: QuotaRule, start: number) {
		this.limit = rule.limit;
		this.windowMs = rule.windowMs;
		const earlier = rule.resetAt ? rule.resetAt.getTime() - rule.windowMs : start - rule.windowMs;
		for (let i = 0; i < Math.min(rule.used, rule.limit); i++) this.times.push(earlier);
	}

	/** The earliest moment the next send fits this rule. */
	earliest(): number {
		if (this.limit <= 0) return Infinity;
		if (this.times.length < this.limit) return -Infinity;
		return this.times[this.times.length - this.limit] + this.windowMs;
	}

	add(t: number): void {
		this.times.push(t);
		if (this.times.length > 2 * this.limit + 64) this.times = this.times.slice(-this.limit);
	}
}

export function estimateFinish(input: { start: Date; endAt?: Date | null; accounts: AccountLoad[]; sendMs?: number }): Estimate {
	const start = input.start.getTime();
	const end = input.endAt ? input.endAt.getTime() : Infinity;
	const sendMs = input.sendMs ?? 0;
	const shared = new Map<string, Window>();
	const lanes = input.accounts.map(a => ({
		load: a,
		left: a.recipients,
		sent: 0,
		last: -Infinity,
		finish: null as number | null,
		windows: a.rules.map(rule => {
			if (rule.scope === "account") return new Window(rule, start);
			const key = `${rule.scope}:${rule.name}`;
			if (!shared.has(key)) shared.set(key, new Window(rule, start));
			return shared.get(key)!;
		}),
	}));

	for (;;) {
		let best: (typeof lanes)[number] | null = null;
		let bestAt = Infinity;
		for (const lane of lanes) {
			if (lane.left <= 0) continue;
			let at = Math.max(start, lane.last + sendMs);
			for (const w of lane.windows) at = Math.max(at, w.earliest());
			if (at < bestAt) {
				bestAt = at;
				best = lane;
			}
		}
		if (!best || bestAt === Infinity || bestAt > end) break;
		for (const w of best.windows) w.add(bestAt);
		best.left--;
		best.sent++;
		best.last = bestAt;
		best.finish = bestAt;
	}

	const recipients = input.accounts.reduce((n, a) => n + a.recipients, 0);
	const sendable = lanes.reduce((n, l) => n + l.sent, 0);
	const unreachable = lanes.some(l => l.left > 0 && !input.endAt);
	const last = lanes.reduce((m, l) => (l.finish !== null && l.finish > m ? l.finish : m), start);
	return {
		startAt: new Date(start),
		recipients,
		sendable,
		expiring: input.endAt ? recipients - sendable : 0,
		finishAt: unreachable ? null : new Date(last),
		accounts: lanes.map(l => ({
			accountId: l.load.accountId,
			recipients: l.load.recipients,
			sendable: l.sent,
			finishAt: l.finish === null ? null : new Date(l.finish),
		})),
	};
}
