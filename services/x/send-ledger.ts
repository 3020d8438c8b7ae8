import { COUNTED_STATES, SendLedgerModel } from "../../models/send-ledger.model.ts";
import { bulkWriteInChunks } from "../../lib/bulk-updates.ts";
import type { LimitRule, SendKind, Violation } from "./send-limits.ts";

// Exact send limits across nodes on a database whose single-document updates are not atomic
// against each other (FerretDB 1.x). Only inserts into a unique index are, so:
//
// 1. A send claims a slot of one sequence: `_id = "<scope>:<seq>"`. A batch of n sends claims
//    n consecutive slots h+1..h+n (h = highest seq read) with ONE ordered insertMany; on a
//    duplicate key the insert stops there (ordered), the highest is read again and the slots
//    still missing are claimed after it. An ordered insert writes slot k only after k-1, and
//    h existed when read, so when any slot n is written every slot before it already exists:
//    the sequence has no gaps, and slots are never deleted while they can count.
// 2. Slot n is allowed iff, for every rule, fewer than `limit` slots BEFORE it (seq < n) that
//    still count (pending or sent) and match the rule's scope (account, merchant or app) are
//    younger than `window`. For a run of consecutive slots s..s+k-1 of one batch (one account,
//    one merchant, one time) this is one count per rule of the slots before s, plus the run's
//    own earlier slots: the first max(0, min over rules of limit - count) slots are allowed, the
//    rest refused. Slots after n never count for n, so two racing claims can not refuse each
//    other, and the highest-numbered send in any window has seen all the others: no window
//    ever holds more than `limit` sends.
// 3. Refused slots are marked rejected in one write (only their owner writes them), a send X
//    refused is marked released; neither counts any more. A slot still pending counts, which
//    can only refuse a racing claim too early, never let one through too many.

export type Clock = () => Date;

export interface SendRef {
	merchantId: string;
	accountId: string;
	kind: SendKind;
}

export type Claim = { allowed: true; id: string; seq: number; at: Date } | { allowed: false; violations: Violation[] };

/** A batch's slots in order: the first `allowed` may be sent, the rest were refused for `violations`. */
export interface BatchClaim {
	at: Date;
	slots: { id: string; seq: number }[];
	allowed: number;
	violations: Violation[];
}

/** The outcome of an allowed slot once X answered: accepted (keeps counting) or refused (released). */
export type SlotOutcome = { id: string; state: "sent"; twitterMessageId: string } | { id: string; state: "released"; reason: string };

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

/** How many rows an ordered insertMany wrote before a duplicate key stopped it; null for any other error. */
function insertedBeforeDuplicate(err: unknown): number | null {
	const e = err as {
		code?: number;
		writeErrors?: { index: number; code: number }[] | { index: number; code: number };
		result?: { insertedCount?: number };
	};
	const errors = Array.isArray(e.writeErrors) ? e.writeErrors : e.writeErrors ? [e.writeErrors] : [];
	if (errors.length) return errors.every(w => w.code === 11000) ? Math.min(...errors.map(w => w.index)) : null;
	return e.code === 11000 ? 0 : null;
}

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
			if (!counts.has(key))
				counts.set(key, SendLedgerModel.countDocuments(this.filter(rule, ref, new Date(now.getTime() - rule.windowMs), beforeSeq)).exec());
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
		const batch = await this.claimMany(ref, rules, 1);
		const [slot] = batch.slots;
		if (!batch.allowed) return { allowed: false, violations: batch.violations };
		return { allowed: true, id: slot.id, seq: slot.seq, at: batch.at };
	}

	/** Takes `n` slots for sends of one account at once; see the header for which are allowed. */
	async claimMany(ref: SendRef, rules: LimitRule[], n: number): Promise<BatchClaim> {
		const at = this.clock();
		const slots: { id: string; seq: number }[] = [];
		let next = (await this.highestSeq()) + 1;
		for (let attempt = 0; slots.length < n; attempt++) {
			const rows = Array.from({ length: n - slots.length }, (_, i) => {
				const seq = next + i;
				return { _id: `${this.scope}:${seq}`, scope: this.scope, seq, at, ...ref, state: "pending", twitterMessageId: null, reason: null };
			});
			try {
				await SendLedgerModel.collection.insertMany(rows as never[], { ordered: true });
				slots.push(...rows.map(r => ({ id: r._id, seq: r.seq })));
			} catch (err) {
				const inserted = insertedBeforeDuplicate(err);
				if (inserted === null || attempt >= 10_000) throw err;
				slots.push(...rows.slice(0, inserted).map(r => ({ id: r._id, seq: r.seq })));
				next = Math.max(next + inserted + 1, (await this.highestSeq()) + 1);
			}
		}
		// Only the first run of consecutive slots is counted at once; a batch split by a racing
		// claim decides its later runs one slot at a time (rare: only under contention).
		const allowedFlags = await this.decide(ref, rules, at, slots);
		const allowed = allowedFlags.findIndex(ok => !ok);
		const allowedCount = allowed === -1 ? slots.length : allowed;
		const refused = slots.slice(allowedCount);
		let violations: Violation[] = [];
		if (refused.length) {
			violations = await this.violations(ref, rules, at, refused[0].seq);
			// Racing claims before ours were marked rejected meanwhile: refused early (never too
			// late), and worth another try in a moment.
			if (!violations.length)
				violations = rules.slice(0, 1).map(rule => ({ rule, used: rule.limit, retryAt: new Date(at.getTime() + 1000) }));
			await SendLedgerModel.updateMany({ _id: { $in: refused.map(s => s.id) } }, { $set: { state: "rejected" } });
		}
		if (slots.some((s, i) => i < allowedCount && s.seq > 0 && s.seq % 500 === 0)) await this.prune(at).catch(() => {});
		return { at, slots, allowed: allowedCount, violations };
	}

	/** Which of a batch's slots (ascending) are allowed: an allowed prefix, then refusals. */
	private async decide(ref: SendRef, rules: LimitRule[], at: Date, slots: { seq: number }[]): Promise<boolean[]> {
		const flags: boolean[] = [];
		let i = 0;
		while (i < slots.length) {
			// A run of consecutive seqs: no other claim's slot sits between them.
			let end = i + 1;
			while (end < slots.length && slots[end].seq === slots[end - 1].seq + 1) end++;
			const room = await this.room(ref, rules, at, slots[i].seq);
			const run = end - i;
			for (let k = 0; k < run; k++) flags.push(k < room);
			if (room < run) {
				// Refused slots stay pending until marked; later runs would count them: refuse them too.
				while (flags.length < slots.length) flags.push(false);
				break;
			}
			i = end;
		}
		return flags;
	}

	/** How many sends may still go, counting the slots before `beforeSeq`: the least room of any rule. */
	private async room(ref: SendRef, rules: LimitRule[], now: Date, beforeSeq: number): Promise<number> {
		const counts = new Map<string, Promise<number>>();
		const countOf = (rule: LimitRule) => {
			const key = `${rule.scope}:${rule.windowMs}`;
			if (!counts.has(key))
				counts.set(key, SendLedgerModel.countDocuments(this.filter(rule, ref, new Date(now.getTime() - rule.windowMs), beforeSeq)).exec());
			return counts.get(key)!;
		};
		const used = await Promise.all(rules.map(countOf));
		return Math.max(0, Math.min(...rules.map((rule, i) => rule.limit - used[i])));
	}

	/** X answered the batch's allowed sends: one write for all of them (in chunks: lib/bulk-updates.ts). */
	async record(outcomes: SlotOutcome[]): Promise<void> {
		await bulkWriteInChunks(
			SendLedgerModel,
			outcomes.map(o => ({
				updateOne: {
					filter: { _id: o.id },
					update: {
						$set:
							o.state === "sent"
								? { state: "sent", twitterMessageId: o.twitterMessageId }
								: { state: "released", reason: o.reason.slice(0, 500) },
					},
				},
			}))
		);
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
