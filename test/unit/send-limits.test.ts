import { randomUUID } from "node:crypto";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { loadConfig } from "../../lib/config.ts";
import { retryFromRateLimitHeaders } from "../../lib/x/errors.ts";
import { isPrivateAddress, sniffImageType } from "../../lib/x/media.ts";
import { SendLedgerModel } from "../../models/send-ledger.model.ts";
import { SendLedger, type SendRef } from "../../services/x/send-ledger.ts";
import { DAY, MINUTE, rulesFor, type LimitRule, type SendLimitsConfig } from "../../services/x/send-limits.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";

// The send limits: which rules a send meets (pure), and the ledger that counts them exactly on
// the run's FerretDB, where only unique inserts are atomic. Time comes from a clock the test
// moves; nothing waits.

useFreshDatabase("send_limits");

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await SendLedgerModel.createIndexes();
});
afterAll(async () => {
	await dropDatabase();
	await releaseDb();
});

const T0 = new Date("2026-03-01T08:00:00.000Z");
const limits = (over: Partial<SendLimitsConfig> = {}): SendLimitsConfig => ({ ...loadConfig({ NODE_ENV: "test" }).sendLimits, ...over });
const only = (name: string, rules: LimitRule[]) => rules.filter(r => r.name === name);

/** A ledger of its own (its own sequence) with a clock the test sets. */
function ledgerAt(start = T0) {
	const clock = { now: new Date(start) };
	const ledger = new SendLedger({ scope: `test-${randomUUID()}`, clock: () => clock.now });
	const at = (ms: number) => (clock.now = new Date(start.getTime() + ms));
	return { ledger, clock, at };
}

const ref = (over: Partial<SendRef> = {}): SendRef => ({ merchantId: "m1", accountId: "a1", kind: "agent", ...over });

describe("which limits a send meets", () => {
	test("the defaults are the contract's 500/24h, X's 15/15min and 1,440/24h per user and 1,440/24h per app", () => {
		const rules = rulesFor("agent", limits());
		expect(rules.map(r => [r.name, r.scope, r.limit, r.windowMs])).toEqual([
			["account_daily", "account", 500, DAY],
			["x_user_15min", "account", 15, 15 * MINUTE],
			["x_user_daily", "account", 1440, DAY],
			["x_app_daily", "app", 1440, DAY],
			["merchant_share_daily", "merchant", 720, DAY],
		]);
	});

	test("campaigns and flows stop short of the app's budget by the reply reserve; agents and the bot do not", () => {
		const cfg = limits({ appPerDay: 1000, replyReservePercent: 20 });
		for (const kind of ["campaign", "flow"] as const) expect(only("x_app_daily", rulesFor(kind, cfg))[0].limit).toBe(800);
		for (const kind of ["agent", "bot"] as const) expect(only("x_app_daily", rulesFor(kind, cfg))[0].limit).toBe(1000);
	});

	test("the limits come from the environment and nonsense is refused at start", () => {
		const cfg = loadConfig({ NODE_ENV: "test", SEND_LIMIT_ACCOUNT_PER_DAY: "3", SEND_LIMIT_MERCHANT_SHARE_PERCENT: "25" }).sendLimits;
		expect(cfg).toMatchObject({ accountPerDay: 3, merchantSharePercent: 25 });
		expect(() => loadConfig({ NODE_ENV: "test", SEND_LIMIT_MERCHANT_SHARE_PERCENT: "120" })).toThrow(/SEND_LIMIT_MERCHANT_SHARE_PERCENT/);
		expect(() => loadConfig({ NODE_ENV: "test", SEND_LIMIT_USER_PER_15MIN: "-1" })).toThrow(/SEND_LIMIT_USER_PER_15MIN/);
		expect(() => loadConfig({ NODE_ENV: "test", X_API_BASE_URL: "http://127.0.0.1:1" })).toThrow(/https/);
	});

	test("X_SANDBOX brings its own consumer key and secret, and is refused in production", () => {
		expect(loadConfig({ NODE_ENV: "development", X_SANDBOX: "1" }).x).toMatchObject({
			sandbox: true,
			consumerKey: "mktx-sandbox-consumer-key",
			consumerSecret: "mktx-sandbox-consumer-secret",
		});
		const prod = { NODE_ENV: "production", JWT_SECRET: "s".repeat(32), ENCRYPTION_KEY: "ab".repeat(32) };
		expect(loadConfig(prod).x.sandbox).toBe(false);
		expect(() => loadConfig({ ...prod, X_SANDBOX: "1" })).toThrow(/X_SANDBOX/);
	});
});

describe("X's 429 headers", () => {
	const now = T0.getTime();
	const s = (offsetS: number) => String(now / 1000 + offsetS);

	test("the latest reset among the windows X says are used up wins", () => {
		const headers = {
			"x-rate-limit-limit": "15",
			"x-rate-limit-remaining": "0",
			"x-rate-limit-reset": s(120),
			"x-user-limit-24hour-limit": "1440",
			"x-user-limit-24hour-remaining": "0",
			"x-user-limit-24hour-reset": s(3600),
		};
		expect(retryFromRateLimitHeaders(headers, now)).toEqual({ resetAt: new Date(now + 3600_000), window: "x_user_24hour" });
	});

	test("a 24-hour window with room left does not delay the retry", () => {
		const headers = {
			"x-rate-limit-remaining": "0",
			"x-rate-limit-reset": s(120),
			"x-user-limit-24hour-remaining": "900",
			"x-user-limit-24hour-reset": s(3600),
		};
		expect(retryFromRateLimitHeaders(headers, now)).toEqual({ resetAt: new Date(now + 120_000), window: "x_endpoint_15min" });
	});

	test("without X's headers: retry-after, then 15 minutes", () => {
		expect(retryFromRateLimitHeaders({ "retry-after": "30" }, now).resetAt).toEqual(new Date(now + 30_000));
		expect(retryFromRateLimitHeaders({}, now).resetAt).toEqual(new Date(now + 15 * MINUTE));
	});
});

describe("media guards", () => {
	test.each([
		"127.0.0.1",
		"10.1.2.3",
		"172.16.0.1",
		"192.168.1.1",
		"169.254.169.254",
		"100.64.0.1",
		"0.0.0.0",
		"::1",
		"fd00::1",
		"fe80::1",
		"::ffff:127.0.0.1",
		"not-an-ip",
	])("%s is private", addr => expect(isPrivateAddress(addr)).toBe(true));
	test.each(["8.8.8.8", "104.244.42.1", "2606:4700::1111", "::ffff:8.8.8.8"])("%s is public", addr =>
		expect(isPrivateAddress(addr)).toBe(false)
	);

	test("image types are recognised by their first bytes", () => {
		expect(sniffImageType(Buffer.from([0xff, 0xd8, 0xff, 0xe0]))).toBe("image/jpeg");
		expect(sniffImageType(Buffer.from("89504e470d0a1a0a0000", "hex"))).toBe("image/png");
		expect(sniffImageType(Buffer.from("GIF89a......"))).toBe("image/gif");
		expect(sniffImageType(Buffer.from("RIFF\0\0\0\0WEBPVP8 "))).toBe("image/webp");
		expect(sniffImageType(Buffer.from("<html>"))).toBeNull();
	});
});

describe("the send ledger", () => {
	test("50 concurrent claims from two nodes against 15 per 15 minutes: exactly 15 are allowed", async () => {
		const { ledger } = ledgerAt();
		const otherNode = new SendLedger({ scope: ledger.scope, clock: ledger.clock });
		const rules = only("x_user_15min", rulesFor("agent", limits()));
		const claims = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 ? otherNode : ledger).claim(ref(), rules)));
		const allowed = claims.filter(c => c.allowed);
		expect(allowed).toHaveLength(15);
		for (const c of claims) {
			if (c.allowed) continue;
			// `used` may count racing claims not yet marked refused: that only ever refuses, never admits.
			expect(c.violations).toEqual([{ rule: rules[0], used: expect.any(Number), retryAt: new Date(T0.getTime() + 15 * MINUTE) }]);
			expect(c.violations[0].used).toBeGreaterThanOrEqual(15);
		}
		// Every slot was taken once: the sequence is 0..49 without a gap or a double.
		const seqs = (await SendLedgerModel.find({ scope: ledger.scope }, { seq: 1 }).lean()).map(d => d.seq).sort((a, b) => a - b);
		expect(seqs).toEqual(Array.from({ length: 50 }, (_, i) => i));
		expect(await SendLedgerModel.countDocuments({ scope: ledger.scope, state: "pending" })).toBe(15);
		expect(await SendLedgerModel.countDocuments({ scope: ledger.scope, state: "rejected" })).toBe(35);
	});

	test("50 concurrent batch claims from two nodes against 15 per 15 minutes: exactly 15 slots are allowed, each batch an allowed prefix", async () => {
		const { ledger } = ledgerAt();
		const otherNode = new SendLedger({ scope: ledger.scope, clock: ledger.clock });
		const rules = only("x_user_15min", rulesFor("campaign", limits()));
		const sizes = Array.from({ length: 50 }, (_, i) => 1 + (i % 2));
		const batches = await Promise.all(sizes.map((n, i) => (i % 2 ? otherNode : ledger).claimMany(ref({ kind: "campaign" }), rules, n)));
		expect(batches.reduce((sum, b) => sum + b.allowed, 0)).toBe(15);
		for (const [i, b] of batches.entries()) {
			expect(b.slots).toHaveLength(sizes[i]);
			if (b.allowed < b.slots.length) expect(b.violations.map(v => v.rule.name)).toEqual(["x_user_15min"]);
		}
		// Every slot was taken once, without a gap, and exactly 15 of them count.
		const total = sizes.reduce((a, b) => a + b, 0);
		const seqs = (await SendLedgerModel.find({ scope: ledger.scope }, { seq: 1 }).lean()).map(d => d.seq).sort((a, b) => a - b);
		expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i));
		expect(await SendLedgerModel.countDocuments({ scope: ledger.scope, state: "pending" })).toBe(15);
		expect(await SendLedgerModel.countDocuments({ scope: ledger.scope, state: "rejected" })).toBe(total - 15);
		const allowedSeqs = batches.flatMap(b => b.slots.slice(0, b.allowed).map(s => s.seq)).sort((a, b) => a - b);
		expect(allowedSeqs).toEqual(Array.from({ length: 15 }, (_, i) => i));
	});

	test("a batch larger than the room left: its first slots go, the rest are refused with the time room comes back", async () => {
		const { ledger, at } = ledgerAt();
		const rules = only("x_user_15min", rulesFor("campaign", limits({ userPer15Min: 5 })));
		expect((await ledger.claimMany(ref(), rules, 2)).allowed).toBe(2);
		at(MINUTE);
		const batch = await ledger.claimMany(ref(), rules, 6);
		expect(batch.allowed).toBe(3);
		expect(batch.violations).toEqual([expect.objectContaining({ used: 5, retryAt: new Date(T0.getTime() + 15 * MINUTE) })]);
		const [sent, refused] = [batch.slots[0], batch.slots[1]];
		await ledger.record([
			{ id: sent.id, state: "sent", twitterMessageId: "42" },
			{ id: refused.id, state: "released", reason: "X refused" },
		]);
		expect(await SendLedgerModel.findById(sent.id).lean()).toMatchObject({ state: "sent", twitterMessageId: "42" });
		// The released slot stops counting: one more may go.
		expect((await ledger.claimMany(ref(), rules, 2)).allowed).toBe(1);
	});

	test("the window rolls: a slot frees exactly when the oldest send is 15 minutes old", async () => {
		const { ledger, at } = ledgerAt();
		const rules = only("x_user_15min", rulesFor("agent", limits({ userPer15Min: 3 })));
		for (const minute of [0, 5, 10]) {
			at(minute * MINUTE);
			expect((await ledger.claim(ref(), rules)).allowed).toBe(true);
		}
		at(14 * MINUTE);
		const refused = await ledger.claim(ref(), rules);
		expect(refused).toEqual({
			allowed: false,
			violations: [expect.objectContaining({ used: 3, retryAt: new Date(T0.getTime() + 15 * MINUTE) })],
		});
		at(15 * MINUTE);
		expect((await ledger.claim(ref(), rules)).allowed).toBe(true);
		at(16 * MINUTE);
		const next = await ledger.claim(ref(), rules);
		expect(next.allowed).toBe(false);
		if (!next.allowed) expect(next.violations[0].retryAt).toEqual(new Date(T0.getTime() + 20 * MINUTE));
		expect(await ledger.check(ref(), rules)).toHaveLength(1);
		at(20 * MINUTE);
		expect(await ledger.check(ref(), rules)).toEqual([]);
	});

	test("limits are per account: another account of the same merchant is not held back", async () => {
		const { ledger } = ledgerAt();
		const rules = only("x_user_15min", rulesFor("agent", limits({ userPer15Min: 2 })));
		for (let i = 0; i < 2; i++) expect((await ledger.claim(ref({ accountId: "a1" }), rules)).allowed).toBe(true);
		expect((await ledger.claim(ref({ accountId: "a1" }), rules)).allowed).toBe(false);
		expect((await ledger.claim(ref({ accountId: "a2" }), rules)).allowed).toBe(true);
	});

	test("a send X refused stops counting once released; one it accepted keeps counting", async () => {
		const { ledger } = ledgerAt();
		const rules = only("x_user_15min", rulesFor("agent", limits({ userPer15Min: 2 })));
		const first = await ledger.claim(ref(), rules);
		const second = await ledger.claim(ref(), rules);
		if (!first.allowed || !second.allowed) throw new Error("expected both allowed");
		await ledger.markSent(first.id, "111");
		expect((await ledger.claim(ref(), rules)).allowed).toBe(false);
		await ledger.release(second.id, "You cannot send messages to this user.");
		expect((await ledger.claim(ref(), rules)).allowed).toBe(true);
		expect(await SendLedgerModel.findById(first.id).lean()).toMatchObject({ state: "sent", twitterMessageId: "111" });
	});

	test("fair share: one merchant takes at most its share of the app's budget, the others still send", async () => {
		const { ledger } = ledgerAt();
		const cfg = limits({ appPerDay: 10, merchantSharePercent: 50, replyReservePercent: 0 });
		const rules = (r: SendRef) => rulesFor(r.kind, cfg).filter(x => x.scope !== "account");
		const big = (i: number) => ref({ merchantId: "big", accountId: `big-${i}`, kind: "campaign" });
		const results = await Promise.all(Array.from({ length: 8 }, (_, i) => ledger.claim(big(i), rules(big(i)))));
		expect(results.filter(r => r.allowed)).toHaveLength(5);
		const refused = results.find(r => !r.allowed);
		if (refused && !refused.allowed) expect(refused.violations.map(v => v.rule.name)).toEqual(["merchant_share_daily"]);
		const small = ref({ merchantId: "small", accountId: "small-1", kind: "agent" });
		for (let i = 0; i < 5; i++) expect((await ledger.claim(small, rules(small))).allowed).toBe(true);
		const full = await ledger.claim(ref({ merchantId: "third", accountId: "t-1" }), rules(ref({ merchantId: "third" })));
		expect(full.allowed).toBe(false);
		if (!full.allowed) expect(full.violations.map(v => v.rule.name)).toEqual(["x_app_daily"]);
	});

	test("bulk sends may not take the share kept for replies; replies still go until the app's limit", async () => {
		const { ledger } = ledgerAt();
		const cfg = limits({ appPerDay: 10, merchantSharePercent: 100, replyReservePercent: 20 });
		const campaign = ref({ kind: "campaign", accountId: "c" });
		const reply = ref({ kind: "agent", accountId: "r" });
		const app = (r: SendRef) => only("x_app_daily", rulesFor(r.kind, cfg));
		const bulk = await Promise.all(Array.from({ length: 12 }, () => ledger.claim(campaign, app(campaign))));
		expect(bulk.filter(c => c.allowed)).toHaveLength(8);
		expect((await ledger.claim(reply, app(reply))).allowed).toBe(true);
		expect((await ledger.claim(ref({ kind: "flow" }), app(ref({ kind: "flow" })))).allowed).toBe(false);
		expect((await ledger.claim(reply, app(reply))).allowed).toBe(true);
		expect((await ledger.claim(reply, app(reply))).allowed).toBe(false);
	});

	test("usage reports used, remaining and when the oldest send leaves each window", async () => {
		const { ledger, at } = ledgerAt();
		const rules = rulesFor("agent", limits());
		await ledger.claim(ref(), rules);
		at(10 * MINUTE);
		await ledger.claim(ref(), rules);
		const usage = await ledger.usage(ref(), rules);
		expect(usage.find(u => u.name === "x_user_15min")).toEqual({
			name: "x_user_15min",
			scope: "account",
			limit: 15,
			used: 2,
			remaining: 13,
			windowSeconds: 900,
			resetAt: new Date(T0.getTime() + 15 * MINUTE),
		});
		expect(usage.find(u => u.name === "account_daily")).toMatchObject({ used: 2, remaining: 498, resetAt: new Date(T0.getTime() + DAY) });
	});

	test("pruning drops only slots older than two days", async () => {
		const { ledger, at } = ledgerAt();
		const rules = only("account_daily", rulesFor("agent", limits()));
		await ledger.claim(ref(), rules);
		at(3 * DAY);
		await ledger.claim(ref(), rules);
		expect(await ledger.prune()).toBe(1);
		expect(await SendLedgerModel.countDocuments({ scope: ledger.scope })).toBe(1);
		// the next slot still follows the highest one
		const next = await ledger.claim(ref(), rules);
		expect(next.allowed && next.seq).toBe(2);
	});
});
