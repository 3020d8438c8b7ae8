import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import mongoose from "mongoose";
import { AccountModel } from "../../models/account.model.ts";
import { config } from "../../lib/config.ts";
import { signToken } from "../../lib/auth.ts";
import { escapeRegex } from "../../lib/regex.ts";
import { tagList } from "../../services/contacts/query.ts";
import { percentile, progress } from "../measure.ts";
import { callCounter } from "../commands.ts";
import { createStartIndexes, startBroker } from "../env.ts";
import { seedInbox } from "../seed-inbox.ts";

// Scenario `reads-at-size` (issue 12's read goal: p50 ≤ 300 ms, p99 ≤ 1 s), default --scale 1:
// one merchant with 20,000 contacts and 200,000 messages (× scale; one open conversation of 10
// messages per contact), beside a second merchant with a tenth as much. Through the gateway
// (JWT, Ajv, the action, mongoose, the envelope), one request at a time:
//   contacts        GET /contacts
//   contacts-tag    GET /contacts?tags=vip
//   contacts-search GET /contacts?search=thị lan
//   conversations   GET /conversations
//   conversation    GET /conversations/:id (with its first 50 messages)
// each with p50/p99 and the database commands per request (the inbox's queue polling apart).
// On the embedded engine the filter indexes `npm start` creates are created after seeding.
// Baseline ("before"), alternating with ours run by run: the shapes the lists had before they
// walked buckets of activity (docs/embedded-engine.md), with the bare driver in this process (no
// HTTP, no broker): find sorted by date with a limit plus countDocuments, the search as a regex
// only, the names by `$in`. ratio = baseline p50 / ours p50, averaged over the five reads.

const MESSAGES = 200_000;
const PER_CONTACT = 10;
const SEARCH = "thị lan";

function summary(samples: number[]) {
	const sorted = [...samples].sort((a, b) => a - b);
	return { p50ms: percentile(sorted, 50), p99ms: percentile(sorted, 99), runs: sorted.length };
}

export async function run({ scale = 1 }: { scale?: number }) {
	const messages = Math.max(1_000, Math.round(MESSAGES * scale));
	const contacts = Math.ceil(messages / PER_CONTACT);
	const runs = 30;
	const budgetMs = 60_000;
	const beforeRuns = Number(process.env.READS_BEFORE_RUNS ?? 3);
	const broker = await startBroker(["api", "accounts", "contacts", "inbox"], { api: { rateLimitPerMinute: 1_000_000_000 } });
	try {
		const db = mongoose.connection.db!;
		const info = (await db.admin().command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
		const database = info.ferretdbVersion ? `FerretDB ${info.ferretdbVersion}` : `MongoDB ${info.version}`;
		const merchantId = "bench-reads";
		const account = await AccountModel.create({ merchantId, twitterUserId: "424200003", username: "shop_reads" });
		const other = await AccountModel.create({ merchantId: "bench-reads-other", twitterUserId: "424200004", username: "shop_other" });
		progress(
			`reads-at-size: seeding ${contacts} contacts and ${messages} messages (and a tenth as much for another merchant) on ${database}`
		);
		const seeded = await seedInbox(db, {
			merchantId,
			accountId: account._id as string,
			contacts,
			perContact: PER_CONTACT,
			firstXId: 9_000_000,
			label: "reads-at-size",
		});
		await seedInbox(db, {
			merchantId: "bench-reads-other",
			accountId: other._id as string,
			contacts: Math.ceil(contacts / 10),
			perContact: PER_CONTACT,
			firstXId: 9_500_000,
			label: "reads-at-size-other",
		});
		progress(`reads-at-size: seeded in ${seeded.seconds} s`);
		await createStartIndexes(db.databaseName, "reads-at-size");

		const token = signToken({ merchantId }, config().jwt);
		const api = broker.getLocalService("api") as unknown as { server: Server };
		const base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/mkt-x`;
		const get = async (path: string) => {
			const res = await fetch(`${base}${path}`, { headers: { Authorization: `Bearer ${token}` } });
			const body = (await res.json()) as { success: boolean; data: { id: string }[]; pagination?: { total: number } };
			if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${JSON.stringify(body)}`);
			return body;
		};

		const C = db.collection("contacts");
		const V = db.collection("conversations");
		const M = db.collection("messages");
		// The filter as it was: every tag in `$all`, the search as a regex only.
		const oldContactFilter = (p: { tags?: string; search?: string }) => {
			const filter: Record<string, unknown> = {};
			const tags = tagList(p.tags);
			if (tags.length === 1) filter.tags = tags[0];
			else if (tags.length > 1) filter.tags = { $all: tags };
			if (p.search) {
				const pattern = escapeRegex(p.search);
				filter.$or = [{ username: { $regex: pattern, $options: "i" } }, { displayName: { $regex: pattern, $options: "i" } }];
			}
			return filter;
		};
		const listContacts = (params: { tags?: string; search?: string }) => async () => {
			const filter = { ...oldContactFilter(params), merchantId };
			const [rows, total] = await Promise.all([
				C.find(filter).sort({ lastInteractionAt: -1, _id: 1 }).limit(20).toArray(),
				C.countDocuments(filter),
			]);
			return { ids: rows.map(r => r._id as unknown as string), total };
		};
		const listConversations = async () => {
			const [rows, total] = await Promise.all([
				V.find({ merchantId }).sort({ lastMessageAt: -1, startedAt: -1, _id: 1 }).limit(20).toArray(),
				V.countDocuments({ merchantId }),
			]);
			await C.find({ _id: { $in: rows.map(r => r.contactId) }, merchantId }, { projection: { username: 1, displayName: 1 } }).toArray();
			return { ids: rows.map(r => r._id as unknown as string), total };
		};
		const conversationId = seeded.sampleConversations[Math.floor(seeded.sampleConversations.length / 2)];
		const detail = async () => {
			const conv = await V.findOne({ _id: conversationId as never, merchantId });
			await C.findOne({ _id: conv!.contactId }, { projection: { username: 1, displayName: 1 } });
			return M.find({ conversationId }).sort({ sentAt: 1, _id: 1 }).limit(51).toArray();
		};

		const reads = {
			contacts: { ours: () => get("/contacts"), driver: listContacts({}) },
			contactsTag: { ours: () => get("/contacts?tags=vip"), driver: listContacts({ tags: "vip" }) },
			contactsSearch: { ours: () => get(`/contacts?search=${encodeURIComponent(SEARCH)}`), driver: listContacts({ search: SEARCH }) },
			conversations: { ours: () => get("/conversations"), driver: listConversations },
			conversation: { ours: () => get(`/conversations/${conversationId}`), driver: detail },
		};

		// Both sides must answer the same before their times mean anything: the same first page, in
		// the same order (the totals differ by design: ours is exact only near the list's end).
		const ids = (body: { data: { id: string }[] }) => body.data.map(r => r.id).join(",");
		const before = {
			contacts: await reads.contacts.driver(),
			contactsTag: await reads.contactsTag.driver(),
			contactsSearch: await reads.contactsSearch.driver(),
			conversations: await reads.conversations.driver(),
		};
		const agree = {
			contacts: [ids(await reads.contacts.ours()), before.contacts.ids.join(",")],
			contactsTag: [ids(await reads.contactsTag.ours()), before.contactsTag.ids.join(",")],
			contactsSearch: [ids(await reads.contactsSearch.ours()), before.contactsSearch.ids.join(",")],
			conversations: [ids(await reads.conversations.ours()), before.conversations.ids.join(",")],
			conversation: [
				((await reads.conversation.ours()).data as unknown as { messages: unknown[] }).messages.length,
				(await reads.conversation.driver()).length,
			],
		};
		for (const [name, [a, b]] of Object.entries(agree))
			if (a !== b) throw new Error(`reads-at-size: ${name} disagrees: ours ${a}, driver ${b}`);
		const totals = Object.fromEntries(Object.entries(before).map(([k, v]) => [k, v.total]));
		progress(`reads-at-size: first pages agree (totals ${JSON.stringify(totals)}); measuring`);

		const results: Record<
			string,
			{
				candidate: ReturnType<typeof summary> & { commandsPerRequest: number; byCommand: Record<string, number> };
				baseline: ReturnType<typeof summary>;
			}
		> = {};
		for (const [name, r] of Object.entries(reads)) {
			const a: number[] = [];
			const b: number[] = [];
			const counter = callCounter();
			const started = performance.now();
			let baselineMs = 0;
			for (let i = 0; i < runs; i++) {
				const t0 = performance.now();
				await counter.around(r.ours);
				a.push(performance.now() - t0);
				// The old shapes take seconds at scale 1: three runs of them (READS_BEFORE_RUNS), or a quarter of the budget.
				if (i < beforeRuns || baselineMs < budgetMs / 4) {
					const t1 = performance.now();
					await r.driver();
					b.push(performance.now() - t1);
					baselineMs += b[b.length - 1];
				}
				if (i + 1 >= 5 && performance.now() - started > budgetMs) break;
			}
			const commands = counter.stop();
			results[name] = {
				candidate: { ...summary(a), commandsPerRequest: commands.perUnit, byCommand: commands.byCommand },
				baseline: summary(b),
			};
			progress(
				`reads-at-size: ${name}: ours p50 ${results[name].candidate.p50ms} ms p99 ${results[name].candidate.p99ms} ms, ${commands.perUnit} commands per request (${a.length} runs); before p50 ${results[name].baseline.p50ms} ms (${b.length} runs)`
			);
		}
		const ratios = Object.values(results).map(r => r.baseline.p50ms / Math.max(0.01, r.candidate.p50ms));
		return {
			scenario: "reads-at-size",
			scale,
			database,
			ratio: Math.round((ratios.reduce((x, y) => x + y, 0) / ratios.length) * 100) / 100,
			candidate: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.candidate])),
			baseline: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, v.baseline])),
			seed: {
				contacts: seeded.contacts,
				messages: seeded.messages,
				seconds: seeded.seconds,
				otherMerchantContacts: Math.ceil(contacts / 10),
			},
		};
	} finally {
		await broker.stop();
	}
}
