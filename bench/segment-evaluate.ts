import { randomUUID } from "node:crypto";
import { ContactActivityDayModel } from "../models/contact-activity-day.model.ts";
import { contactActivityFields, contactSearchFields } from "../models/contact.model.ts";
import { markActivityDays } from "../lib/activity-days.ts";
import mongoose from "mongoose";
import type { ServiceBroker } from "moleculer";
import { callCounter } from "./commands.ts";
import { percentile, progress } from "./measure.ts";
import { startBroker } from "./env.ts";
import { contactFilter } from "../services/contacts/query.ts";
import { segmentQuery, type SegmentCondition } from "../services/segments/compile.ts";

// Scenario `segment-evaluate`: 200,000 contacts for one merchant and 200,000 for another (times
// `scale`), then p50/p99 of three reads through the services' actions (broker.call: Ajv, the
// action, mongoose) against the same query run with the bare mongodb driver in this process:
//   list-tag  GET /contacts?tags=vip (first page + total)
//   search    GET /contacts?search=thị lan (substring of username or display name, any case)
//   segment   POST /segments/:id/evaluate with three conditions (count + 10 sample contacts)
// ratio = driver p50 / our p50, averaged over the three (1 = no overhead; higher is better).
//
// Given a broker it uses that one (it must run `contacts` and `segments`); otherwise it starts
// its own. FerretDB 1.x scans the whole collection for any filter other than `_id`, so on it
// every query costs time proportional to all 400,000 × scale contacts: use --scale 0.05 there.

const PER_MERCHANT = 200_000;
const BATCH = 5_000;
const DAY = 86_400_000;
const TAGS = ["customer", "new", "loyal", "promo", "inactive", "wholesale", "vn", "hcm", "hn"];
const LAST = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"];
const MIDDLE = ["Văn", "Thị", "Minh", "Ngọc", "Đức", "Thu", "Hữu", "Thanh"];
const FIRST = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Lan", "Long", "Mai", "Nam", "Phương", "Quân", "Tâm", "Trang", "Vy"];

const SEGMENT: SegmentCondition[] = [
	{ field: "attributes.purchaseCount", operator: "gte", value: 5 },
	{ field: "tags", operator: "contains", value: "vip" },
	{ field: "lastInteractionAt", operator: "within_last_days", value: 30 },
];
const SEARCH = "thị lan";

/** A small deterministic generator, so every run seeds the same data. */
function rng(seed: number) {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 2 ** 32;
	};
}

function contactDoc(merchantId: string, accounts: string[], i: number, rand: () => number, now: number) {
	const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
	const tags = new Set<string>();
	if (rand() < 0.1) tags.add("vip");
	const extra = Math.floor(rand() * 3);
	for (let t = 0; t < extra; t++) tags.add(pick(TAGS));
	const last = new Date(now - Math.floor(rand() * 180 * DAY));
	const created = new Date(last.getTime() - Math.floor(rand() * 365 * DAY));
	const displayName = `${pick(LAST)} ${pick(MIDDLE)} ${pick(FIRST)}`;
	return {
		_id: randomUUID(),
		merchantId,
		accountId: accounts[i % accounts.length],
		twitterUserId: `${merchantId}-${i}`,
		username: `user_${i.toString(36)}`,
		usernameLower: `user_${i.toString(36)}`,
		displayName,
		profileImageUrl: null,
		tags: [...tags],
		attributes: {
			purchaseCount: Math.floor(rand() * 12),
			totalSpent: Math.floor(rand() * 5_000_000),
			tier: pick(["silver", "gold", "platinum"]),
		},
		source: "inbound_message",
		conversationCount: Math.floor(rand() * 8),
		messagesReceived: 0,
		messagesSent: 0,
		firstInteractionAt: created,
		lastInteractionAt: last,
		lastInboundAt: last,
		optedOut: rand() < 0.02,
		optedOutAt: null,
		optedIn: false,
		responseTimeTotalSeconds: 0,
		responseCount: 0,
		createdAt: created,
		updatedAt: last,
		// What the contacts service sets on every contact: the list's activity bucket and search keys.
		...contactActivityFields(last),
		...contactSearchFields(`user_${i.toString(36)}`, displayName),
	};
}

interface Side {
	p50ms: number;
	p99ms: number;
	runs: number;
}

function summary(samples: number[]): Side {
	const sorted = [...samples].sort((a, b) => a - b);
	return { p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99), runs: sorted.length };
}

/**
 * Alternates ours and the driver's run by run (so drift hits both alike). About `runs` runs,
 * fewer (at least 5) when one pair takes so long that `budgetMs` would be exceeded.
 */
async function compare(name: string, ours: () => Promise<unknown>, driver: () => Promise<unknown>, runs: number, budgetMs: number) {
	await ours();
	await driver();
	const a: number[] = [];
	const b: number[] = [];
	const counter = callCounter();
	const started = performance.now();
	for (let i = 0; i < runs; i++) {
		const t0 = performance.now();
		await counter.around(ours);
		const t1 = performance.now();
		await driver();
		a.push(t1 - t0);
		b.push(performance.now() - t1);
		if (i + 1 >= 5 && performance.now() - started > budgetMs) break;
	}
	const commands = counter.stop();
	const candidate = { ...summary(a), commandsPerRequest: commands.perUnit, byCommand: commands.byCommand };
	const baseline = summary(b);
	progress(
		`segment-evaluate: ${name}: ours p50 ${candidate.p50ms} ms p99 ${candidate.p99ms} ms, ${commands.perUnit} commands per request; driver p50 ${baseline.p50ms} ms p99 ${baseline.p99ms} ms (${candidate.runs} runs)`
	);
	return { candidate, baseline };
}

export async function run(opts: { broker?: ServiceBroker; scale?: number; runs?: number; budgetMs?: number } = {}) {
	const scale = opts.scale ?? 1;
	const runs = opts.runs ?? 30;
	const budgetMs = opts.budgetMs ?? 120_000;
	const perMerchant = Math.max(1_000, Math.round(PER_MERCHANT * scale));
	const ownBroker = !opts.broker;
	const broker = opts.broker ?? (await startBroker(["contacts", "segments"]));
	await broker.waitForServices(["contacts", "segments"], 30_000);
	const db = mongoose.connection.db;
	if (!db) throw new Error("segment-evaluate needs the broker's mongoose connection (run the contacts service on it)");
	const contacts = db.collection<{ _id: string; [key: string]: unknown }>("contacts");
	const serverInfo = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
	const database = serverInfo.ferretdbVersion ? `FerretDB ${serverInfo.ferretdbVersion}` : `MongoDB ${serverInfo.version}`;
	if (serverInfo.ferretdbVersion && scale > 0.1)
		progress(`segment-evaluate: on FerretDB every query scans all ${2 * perMerchant} contacts; this will be slow`);

	const suffix = randomUUID().slice(0, 8);
	const merchants = [`bench-seg-a-${suffix}`, `bench-seg-b-${suffix}`];
	const now = Date.now();
	const seedStarted = performance.now();
	for (const [m, merchantId] of merchants.entries()) {
		const accounts = [randomUUID(), randomUUID(), randomUUID()];
		const rand = rng(42 + m);
		for (let start = 0; start < perMerchant; start += BATCH) {
			const docs = Array.from({ length: Math.min(BATCH, perMerchant - start) }, (_, k) =>
				contactDoc(merchantId, accounts, start + k, rand, now)
			);
			await contacts.insertMany(docs, { ordered: false });
			await markActivityDays(
				ContactActivityDayModel,
				merchantId,
				docs.map(d => d.activityAt)
			);
			if ((start / BATCH) % 10 === 0)
				progress(`segment-evaluate: seeded ${start + docs.length}/${perMerchant} contacts of merchant ${m + 1}`);
		}
	}
	const seedSeconds = Math.round(performance.now() - seedStarted) / 1000;
	progress(`segment-evaluate: seeded ${2 * perMerchant} contacts in ${seedSeconds} s on ${database}`);

	const merchantId = merchants[0];
	const meta = { merchantId };
	const callOpts = { meta, timeout: 10 * 60_000 };
	const segment = await broker.call<{ id: string }, Record<string, unknown>>(
		"segments.create",
		{ name: "bench VIP", conditions: SEGMENT },
		callOpts
	);

	// The same reads with the bare driver: same filters, sorts and limits as the actions.
	const listDriver = (params: { tags?: string; search?: string }) => async () => {
		const filter = { ...contactFilter(params), merchantId };
		const [rows, total] = await Promise.all([
			contacts.find(filter).sort({ lastInteractionAt: -1, _id: 1 }).limit(20).toArray(),
			contacts.countDocuments(filter),
		]);
		return { rows: rows.length, total };
	};
	const evaluateDriver = async () => {
		const filter = segmentQuery(merchantId, { conditions: SEGMENT, match: "all" }, new Date());
		const [contactCount, sample] = await Promise.all([
			contacts.countDocuments(filter),
			contacts
				.find(filter, { projection: { _id: 1, username: 1, displayName: 1 } })
				.sort({ lastInteractionAt: -1, _id: 1 })
				.limit(10)
				.toArray(),
		]);
		return { contactCount, sample: sample.length };
	};
	type List = { data: unknown[]; pagination: { total: number; totalExact?: boolean } };
	const listOurs = (params: { tags?: string; search?: string }) => () =>
		broker.call<List, Record<string, unknown>>("contacts.list", { ...params, take: 20 }, callOpts);
	const evaluateOurs = () => broker.call<{ contactCount: number }, { id: string }>("segments.evaluate", { id: segment.id }, callOpts);

	// Both sides must answer the same before their times mean anything.
	// A list's page must hold the same rows; its total is compared only where the list says it is
	// exact (before the end of the list it is a lower bound: docs/embedded-engine.md).
	const listCheck = async (params: { tags?: string; search?: string }) => {
		const [ours, driver] = [await listOurs(params)(), await listDriver(params)()];
		const exact = ours.pagination.totalExact !== false;
		return exact ? [ours.pagination.total, driver.total] : [ours.data.length, driver.rows];
	};
	const checks = {
		listTag: await listCheck({ tags: "vip" }),
		search: await listCheck({ search: SEARCH }),
		segment: [(await evaluateOurs()).contactCount, (await evaluateDriver()).contactCount],
	};
	for (const [name, [ours, driver]] of Object.entries(checks)) {
		if (ours !== driver) throw new Error(`segment-evaluate: ${name} disagrees: ours ${ours}, driver ${driver}`);
	}
	progress(
		`segment-evaluate: answers agree (vip ${checks.listTag[0]}, search ${checks.search[0]}, segment ${checks.segment[0]}); measuring`
	);

	const results = {
		listTag: await compare("list-tag", listOurs({ tags: "vip" }), listDriver({ tags: "vip" }), runs, budgetMs),
		search: await compare("search", listOurs({ search: SEARCH }), listDriver({ search: SEARCH }), runs, budgetMs),
		segmentEvaluate: await compare("segment", evaluateOurs, evaluateDriver, runs, budgetMs),
	};
	const ratios = Object.values(results).map(r => (r.candidate.p50ms > 0 ? r.baseline.p50ms / r.candidate.p50ms : 1));
	const ratio = Math.round((ratios.reduce((a, b) => a + b, 0) / ratios.length) * 100) / 100;

	await broker.call("segments.remove", { id: segment.id }, callOpts).catch(() => {});
	await contacts.deleteMany({ merchantId: { $in: merchants } });
	if (ownBroker) await broker.stop();

	return {
		scenario: "segment-evaluate",
		ratio,
		candidate: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.candidate])),
		baseline: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.baseline])),
		contactsPerMerchant: perMerchant,
		matches: { listTag: checks.listTag[0], search: checks.search[0], segment: checks.segment[0] },
		seedSeconds,
		database,
	};
}
