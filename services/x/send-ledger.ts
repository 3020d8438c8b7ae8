import { COUNTED_STATES, SendLedgerModel } from "../../models/send-ledger.model.ts";
import type { LimitRule, SendKind, Violation } from "./send-limits.ts";

// Exact send limits across nodes on a database whose single-document updates are not atomic
// against each other (FerretDB 1.x). Only inserts into a unique index are, so:
//
// 1. A send claims the next slot of one sequence: `_id = "<scope>:<seq>"`, seq = highest + 1,
//    and on a duplicate key it reads the highest again and tries the next. Slots are never
//    deleted while they can count, so the sequence has no gaps: when slot n is taken, every
//    slot before it already exists.
// 2. Slot n is allowed iff, for every rule, fewer than `limit` slots BEFORE it (seq < n) that
//    still count (pending or sent) and match the rule's scope (account, merchant or app) are
//    younger than `window`. Slots after n never count for n, so two racing claims can not
//    refuse each other, and the highest-numbered send in any window has seen all the others:
//    no window ever holds more than `limit` sends.
// 3. A refused slot is marked rejected (only its owner writes it), a send X refused is marked
//    released; neither counts any more. A slot still pending counts, which can only refuse
//    a racing claim too early, never let one through too many.

export type Clock = () => Date;

export interface SendRef {
	merchantId: string;
	accountId: string;
	kind: SendKind;
}

export type Claim = { allowed: true; id: string; seq: number; at: Date } | { allowed: false; violations: Violation[] };

export interface RuleUsage {
	name: string;
	scope: LimitRule["scope"];
	limit: number;
	used: number;
	remaining: number;
	windowSeconds: number;
	/** When the oldest counted send leaves the window (null when none is in it). */
	resetAt: Date | null;
}

const isDuplicateKey = (err: unknown) => (err as { code?: number })?.code === 11000;

export class SendLedger {
	readonly scope: string;
	readonly clock: Clock;

	/** @param scope one sequence for every send of the X app; tests use their own. */
	constructor(opts: { scope?: string; clock?: Clock } = {}) {
		this.scope = opts.scope ?? "app";
		this.clock = opts.clock ?? (() => new Date());
	}

	private filter(rule: LimitRule, ref: SendRef, cutoff: Date, beforeSeq?: number): Record<string, unknown> {
		const f: Record<string, unknown> = { scope: this.scope, at: { $gt: cutoff }, state: { $in: COUNTED_STATES } };
		if (rule.scope === "account") f.accountId = ref.accountId;
		if (rule.scope === "merchant") f.merchantId = ref.merchantId;
		if (beforeSeq !== undefined) f.seq = { $lt: beforeSeq };
		return f;
	}

	/** The rules a send at `now` would break, counting the slots before `beforeSeq` (all when unset). */
	async violations(ref: SendRef, rules: LimitRule[], now: Date, beforeSeq?: number): Promise<Violation[]> {
		const counts = new Map<string, Promise<number>>();
		const countOf = (rule: LimitRule) => {
			const key = `${rule.scope}:${rule.windowMs}`;
			if (!counts.has(key)) counts.set(key, SendLedgerModel.countDocuments(this.filter(rule, ref, new Date(now.getTime() - rule.windowMs), beforeSeq)).exec());
			return counts.get(key)!;
		};
		const used = await Promise.all(rules.map(countOf));
		const broken = rules.map((rule, i) => ({ rule, used: used[i] })).filter(({ rule, used }) => used >= rule.limit);
		return Promise.all(
			broken.map(async ({ rule, used }) => {
				if (rule.limit <= 0) return { rule, used, retryAt: new Date(now.getTime() + rule.windowMs) };
				// Room comes back when the limit-th most recent counted send leaves the window.
				const nth = await SendLedgerModel.findOne(this.filter(rule, ref, new Date(now.getTime() - rule.windowMs), beforeSeq), { at: 1 })
					.sort({ at: -1 })
					.skip(rule.limit - 1)
					.lean<{ at: Date }>();
				return { rule, used, retryAt: new Date((nth?.at ?? now).getTime() + rule.windowMs) };
			})
		);
	}

	/** A dry run: what a send now would break. Refusing on it is always right (a claim sees more). */
	check(ref: SendRef, rules: LimitRule[]): Promise<Violation[]> {
		return this.violations(ref, rules, this.clock());
	}

	private async highestSeq(): Promise<number> {
		const top = await SendLedgerModel.findOne({ scope: this.scope }, { seq: 1 }).sort({ seq: -1 }).lean<{ seq: number }>();
		return top ? top.seq : -1;
	}

	/** Takes a slot for one send, or says which rules refuse it (the slot is then marked rejected). */
	async claim(ref: SendRef, rules: LimitRule[]): Promise<Claim> {
		const at = this.clock();
		let seq = (await this.highestSeq()) + 1;
		for (let attempt = 0; ; attempt++) {
			try {
				await SendLedgerModel.create({ _id: `${this.scope}:${seq}`, scope: this.scope, seq, at, ...ref, state: "pending" });
				break;
			} catch (err) {
				if (!isDuplicateKey(err) || attempt >= 10_000) throw err;
				seq = Math.max(seq + 1, (await this.highestSeq()) + 1);
			}
		}
		const id = `${this.scope}:${seq}`;
		const violations = await this.violations(ref, rules, at, seq);
		if (violations.length) {
			await SendLedgerModel.updateOne({ _id: id }, { $set: { state: "rejected" } });
			return { allowed: false, violations };
		}
		if (seq > 0 && seq % 500 === 0) await this.prune(at).catch(() => {});
		return { allowed: true, id, seq, at };
	}

	/** X accepted the message: the slot keeps counting. */
	async markSent(id: string, twitterMessageId: string): Promise<void> {
		await SendLedgerModel.updateOne({ _id: id }, { $set: { state: "sent", twitterMessageId } });
	}

	/** X refused the message (nothing was delivered): the slot stops counting. */
	async release(id: string, reason: string): Promise<void> {
		await SendLedgerModel.updateOne({ _id: id }, { $set: { state: "released", reason: reason.slice(0, 500) } });
	}

	/** Used and remaining sends under each rule, now. */
	async usage(ref: SendRef, rules: LimitRule[]): Promise<RuleUsage[]> {
		const now = this.clock();
		return Promise.all(
			rules.map(async rule => {
				const filter = this.filter(rule, ref, new Date(now.getTime() - rule.windowMs));
				const [used, oldest] = await Promise.all([
					SendLedgerModel.countDocuments(filter).exec(),
					SendLedgerModel.findOne(filter, { at: 1 }).sort({ at: 1 }).lean<{ at: Date }>(),
				]);
				return {
					name: rule.name,
					scope: rule.scope,
					limit: rule.limit,
					used,
					remaining: Math.max(0, rule.limit - used),
					windowSeconds: rule.windowMs / 1000,
					resetAt: oldest ? new Date(oldest.at.getTime() + rule.windowMs) : null,
				};
			})
		);
	}

	/** Drops slots too old to count for any rule (twice the longest window, 24 hours). */
	async prune(now: Date = this.clock(), keepMs = 2 * 24 * 3600_000): Promise<number> {
		const res = await SendLedgerModel.deleteMany({ scope: this.scope, at: { $lt: new Date(now.getTime() - keepMs) } });
		return res.deletedCount ?? 0;
	}
}
