import mongoose from "mongoose";
import type { Db, Document } from "mongodb";
import type { ServiceBroker } from "moleculer";
import { callCounter } from "../commands.ts";
import { percentile, progress } from "../measure.ts";
import { startBroker } from "../env.ts";
import { rebuildMerchant } from "../../services/analytics/rebuild.ts";
import { parsePeriod, previousPeriod, type Period } from "../../services/analytics/period.ts";
import { averageSeconds, formatDuration, growth } from "../../services/analytics/format.ts";

// Scenario `analytics-overview`: one merchant with 1,000,000 messages over a year (× scale), in
// conversations of 8 messages (customer, reply, ...) on two accounts, plus another merchant with
// 5% as much. Its counters are built by the rebuild (timed). Then GET /analytics/overview for
// the last 30 days and for the whole year (365 days, plus the 365 before for the trends) through
// the service's action (Ajv, the action, day rows), against a raw scan of the same period with
// the mongodb driver: the messages of the two periods read and tallied, contacts and
// conversations counted. Both must answer the same. ratio = raw p50 / ours p50 (the lower of
// the 30- and 365-day ratios).
//
// FerretDB reads every row of a collection for any filter but an `_id` (about 10,000 rows/s on
// a busy 2-core machine), so the raw scan of 1,000,000 messages takes minutes per run there:
// the default scale is 0.05 (50,000 messages); on MongoDB run --scale 1.

export const DEFAULT_SCALE = 0.05;
const MESSAGES = 1_000_000;
const PER_CONVERSATION = 8;
const BATCH = 5_000;
const DAY = 86_400_000;
const TZ = "Asia/Ho_Chi_Minh";
/** The year ends with local day 2025-12-31. */
const END_DATE = "2025-12-31";
const YEAR_END = Date.parse("2025-12-31T17:00:00Z");
const YEAR_START = YEAR_END - 365 * DAY;

function rng(seed: number) {
	let s = seed >>> 0;
	return () => {
		s = (s * 1664525 + 1013904223) >>> 0;
		return s / 2 ** 32;
	};
}

/** Contacts, each with two conversations of PER_CONVERSATION messages, until `messages` are made (raw rows, as the inbox stores them). */
export async function seed(db: Db, merchantId: string, messages: number, seedValue: number): Promise<void> {
	const rand = rng(seedValue);
	const accounts = [`${merchantId}-acc-a`, `${merchantId}-acc-b`];
	const buffers: Record<string, Document[]> = { contacts: [], conversations: [], messages: [] };
	const flush = async (force = false) => {
		for (const [name, docs] of Object.entries(buffers)) {
			if (docs.length && (force || docs.length >= BATCH)) {
				await db.collection(name).insertMany(docs, { ordered: false });
				buffers[name] = [];
			}
		}
	};
	let made = 0;
	for (let c = 0; made < messages; c++) {
		const contactId = `${merchantId}-c${c}`;
		const accountId = accounts[c % 2];
		const created = new Date(YEAR_START + Math.floor(rand() * 365 * DAY));
		buffers.contacts.push({
			_id: contactId,
			merchantId,
			accountId,
			twitterUserId: contactId,
			source: "inbound_message",
			tags: rand() < 0.1 ? ["vip"] : [],
			createdAt: created,
			firstInteractionAt: created,
			optedOut: false,
		});
		for (let k = 0; k < 2 && made < messages; k++) {
			const conversationId = `${contactId}-v${k}`;
			const start = k === 0 ? created.getTime() : created.getTime() + Math.floor(rand() * (YEAR_END - created.getTime()));
			let at = start;
			let firstResponseAt: Date | null = null;
			const n = Math.min(PER_CONVERSATION, messages - made);
			for (let i = 0; i < n; i++) {
				const inbound = i % 2 === 0;
				const response = inbound ? null : 5 + Math.floor(rand() * 900);
				if (!inbound) at += response! * 1000;
				const r = rand();
				const origin = inbound ? null : r < 0.6 ? "agent" : r < 0.9 ? "bot" : `campaign:cmp-${new Date(at).getUTCMonth()}`;
				if (!inbound && !firstResponseAt) firstResponseAt = new Date(at);
				buffers.messages.push({
					_id: `${conversationId}-m${i}`,
					merchantId,
					accountId,
					conversationId,
					contactId,
					direction: inbound ? "inbound" : "outbound",
					status: inbound ? "received" : "sent",
					origin,
					sentAt: new Date(at),
					createdAt: new Date(at),
					responseSeconds: origin === "agent" || origin === "bot" ? response : null,
					content: inbound ? "Shop ơi còn hàng không?" : "Dạ còn ạ, anh/chị cần size nào?",
				});
				if (inbound) at += Math.floor(rand() * 3_600_000);
			}
			made += n;
			const closed = rand() < 0.7;
			buffers.conversations.push({
				_id: conversationId,
				merchantId,
				accountId,
				contactId,
				status: closed ? "closed" : "open",
				openKey: closed ? `closed:${conversationId}` : `open:${contactId}:${k}`,
				assignedToUserId: rand() < 0.5 ? "agent-1" : null,
				startedAt: new Date(start),
				firstResponseAt,
				closedAt: closed ? new Date(at + 60_000) : null,
			});
			await flush();
		}
	}
	await flush(true);
}

/** The same summary and trends as the analytics service, straight from the raw rows. */
async function rawOverview(db: Db, merchantId: string, period: Period) {
	const previous = previousPeriod(period);
	const [p0, s0, e0] = [previous.bounds[0], period.bounds[0], period.bounds[period.bounds.length - 1]].map(ms => new Date(ms));
	const now = { in: 0, out: 0, responses: 0, responseSeconds: 0 };
	const before = { in: 0, out: 0 };
	const cursor = db
		.collection("messages")
		.find(
			{ merchantId, sentAt: { $gte: p0, $lt: e0 } },
			{ projection: { _id: 0, direction: 1, status: 1, responseSeconds: 1, sentAt: 1 } }
		);
	for await (const m of cursor) {
		const side = m.sentAt >= s0 ? now : before;
		if (m.direction === "inbound") side.in++;
		else if (m.status === "sent" || m.status === "read") {
			side.out++;
			if (side === now && typeof m.responseSeconds === "number") {
				now.responses++;
				now.responseSeconds += m.responseSeconds;
			}
		}
	}
	const count = (name: string, filter: Document) => db.collection(name).countDocuments({ merchantId, ...filter });
	const [totalContacts, newContacts, contactsBefore, totalConversations, closedByEnd, opened, openedBefore, campaignsCompleted] =
		await Promise.all([
			count("contacts", { createdAt: { $lt: e0 } }),
			count("contacts", { createdAt: { $gte: s0, $lt: e0 } }),
			count("contacts", { createdAt: { $gte: p0, $lt: s0 } }),
			count("conversations", { startedAt: { $lt: e0 } }),
			count("conversations", { status: "closed", closedAt: { $lt: e0 } }),
			count("conversations", { startedAt: { $gte: s0, $lt: e0 } }),
			count("conversations", { startedAt: { $gte: p0, $lt: s0 } }),
			count("campaigns", { status: "completed", completedAt: { $gte: s0, $lt: e0 } }),
		]);
	const average = averageSeconds(now.responseSeconds, now.responses);
	return {
		summary: {
			totalContacts,
			newContacts,
			totalConversations,
			activeConversations: totalConversations - closedByEnd,
			messagesSent: now.out,
			messagesReceived: now.in,
			campaignsCompleted,
			averageResponseTime: formatDuration(average),
			averageResponseTimeSeconds: average,
		},
		trends: {
			contactsGrowth: growth(newContacts, contactsBefore),
			conversationsGrowth: growth(opened, openedBefore),
			messagesGrowth: growth(now.in + now.out, before.in + before.out),
		},
	};
}

function summary(samples: number[]) {
	const sorted = [...samples].sort((a, b) => a - b);
	return { p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99), runs: sorted.length };
}

/** Alternates ours and the raw scan run by run; about `runs` pairs, fewer (at least 5) past `budgetMs`. */
async function compare(name: string, ours: () => Promise<unknown>, raw: () => Promise<unknown>, runs: number, budgetMs: number) {
	await ours();
	const a: number[] = [];
	const b: number[] = [];
	const counter = callCounter();
	const started = performance.now();
	for (let i = 0; i < runs; i++) {
		const t0 = performance.now();
		await counter.around(ours);
		const t1 = performance.now();
		await raw();
		a.push(t1 - t0);
		b.push(performance.now() - t1);
		if (i + 1 >= 5 && performance.now() - started > budgetMs) break;
	}
	const commands = counter.stop();
	const candidate = { ...summary(a), commandsPerRequest: commands.perUnit, byCommand: commands.byCommand };
	const baseline = summary(b);
	progress(
		`analytics-overview: ${name}: ours p50 ${candidate.p50ms} ms p99 ${candidate.p99ms} ms, ${commands.perUnit} commands per request; raw scan p50 ${baseline.p50ms} ms p99 ${baseline.p99ms} ms (${candidate.runs} runs)`
	);
	return { candidate, baseline, ratio: Math.round((baseline.p50ms / Math.max(candidate.p50ms, 0.01)) * 10) / 10 };
}

export async function run(opts: { broker?: ServiceBroker; scale?: number; runs?: number; budgetMs?: number } = {}) {
	const scale = opts.scale ?? DEFAULT_SCALE;
	const runs = opts.runs ?? 20;
	const budgetMs = opts.budgetMs ?? 90_000;
	const messages = Math.max(2_000, Math.round(MESSAGES * scale));
	const ownBroker = !opts.broker;
	const broker = opts.broker ?? (await startBroker(["analytics"]));
	await broker.waitForServices(["analytics"], 30_000);
	const db = mongoose.connection.db;
	if (!db) throw new Error("analytics-overview needs the broker's mongoose connection (run the analytics service on it)");
	const info = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
	const database = info.ferretdbVersion ? `FerretDB ${info.ferretdbVersion}` : `MongoDB ${info.version}`;

	const merchantId = `bench-analytics-${Date.now().toString(36)}`;
	const other = `${merchantId}-other`;
	let t0 = performance.now();
	await seed(db, merchantId, messages, 7);
	await seed(db, other, Math.round(messages * 0.05), 11);
	const seedSeconds = Math.round(performance.now() - t0) / 1000;
	progress(`analytics-overview: seeded ${messages} + ${Math.round(messages * 0.05)} messages in ${seedSeconds} s on ${database}`);

	t0 = performance.now();
	const rebuilt = await rebuildMerchant(merchantId, { log: line => progress(`analytics-overview: rebuild ${line}`) });
	await rebuildMerchant(other);
	const rebuildSeconds = Math.round(performance.now() - t0) / 1000;
	progress(
		`analytics-overview: counters rebuilt from the raw rows in ${rebuildSeconds} s (${rebuilt.facts} facts, ${rebuilt.quarterRows} quarter rows, ${rebuilt.dayRows} day rows)`
	);

	const periods = { days30: { startDate: "2025-12-02", endDate: END_DATE }, days365: { startDate: "2025-01-01", endDate: END_DATE } };
	const results: Record<string, Awaited<ReturnType<typeof compare>>> = {};
	for (const [name, dates] of Object.entries(periods)) {
		const parsed = parsePeriod({ ...dates, timezone: TZ });
		if ("problems" in parsed) throw new Error(JSON.stringify(parsed.problems));
		const ours = () =>
			broker.call<Record<string, unknown>, Record<string, unknown>>(
				"analytics.overview",
				{ ...dates, timezone: TZ },
				{ meta: { merchantId }, timeout: 10 * 60_000 }
			);
		const raw = () => rawOverview(db, merchantId, parsed.period);
		const [a, b] = [await ours(), await raw()];
		if (JSON.stringify({ summary: a.summary, trends: a.trends }) !== JSON.stringify(b)) {
			throw new Error(
				`analytics-overview: ${name} disagrees:\n ours ${JSON.stringify({ summary: a.summary, trends: a.trends })}\n raw  ${JSON.stringify(b)}`
			);
		}
		progress(`analytics-overview: ${name} answers agree (${JSON.stringify(a.summary)}); measuring`);
		results[name] = await compare(name, ours, raw, runs, budgetMs);
	}

	if (ownBroker) await broker.stop();
	return {
		scenario: "analytics-overview",
		ratio: Math.min(results.days30.ratio, results.days365.ratio),
		candidate: { days30: results.days30.candidate, days365: results.days365.candidate },
		baseline: { days30: results.days30.baseline, days365: results.days365.baseline },
		ratios: { days30: results.days30.ratio, days365: results.days365.ratio },
		database,
		scale,
		messages,
		seedSeconds,
		rebuild: {
			seconds: rebuildSeconds,
			facts: rebuilt.facts,
			quarterRows: rebuilt.quarterRows,
			dayRows: rebuilt.dayRows,
			totalRows: rebuilt.totalRows,
		},
	};
}
