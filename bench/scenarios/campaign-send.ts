import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import mongoose from "mongoose";
import type { ServiceBroker } from "moleculer";
import { progress } from "../measure.ts";
import { countCommands, withCommandMonitoring, type CommandCount } from "../commands.ts";
import { AGENDA_COLLECTION } from "../../mixins/agenda.mixin.ts";
import { startBroker } from "../env.ts";
import { config, resetConfig } from "../../lib/config.ts";
import { encryptSecret } from "../../lib/crypto.ts";
import { createXClientFactory } from "../../lib/x/client.ts";
import { startXSandbox } from "../../sandbox/x-sandbox.ts";
import { AccountModel } from "../../models/account.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { TemplateModel } from "../../models/template.model.ts";
import { SegmentModel } from "../../models/segment.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../../models/campaign-delivery.model.ts";
import { SendLedgerModel } from "../../models/send-ledger.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { IdempotencyKeyModel } from "../../models/idempotency-key.model.ts";
import { renderTemplate } from "../../services/templates/render.ts";
import { snapshotAudience } from "../../services/campaigns/audience.ts";

// Scenario `campaign-send` (default --scale 0.1; --scale 1 is the 100,000 recipients):
//  1. plan and snapshot: 100,000 × scale contacts of one segment (2% opted out, 3% who never
//     wrote: skipped). `plan` is POST /campaigns/:id/preview-launch (the action: eligibility by
//     reason, the finish estimate under the send limits, three samples); `snapshot` is what the
//     job does at start (one delivery row per contact, in pages). Time and memory of each:
//     peak RSS and heap while it runs, sampled every 50 ms (process.memoryUsage).
//  2. send throughput, limits raised (SEND_LIMIT_* = 10^9): 2,000 × scale recipients (100 to
//     300) sent by the campaign's own Agenda job chain (claim, render, inbox, x service,
//     twitter-api-v2 over HTTPS to the X sandbox, outcome rows) from start to `completed`,
//     against a bare loop in the same run that renders the same template and posts the same
//     DMs with twitter-api-v2 to the same sandbox, one after another as the campaign does.
//     ratio = ours / bare (messages per second).
//     `inboxOnly` is inbox.sendToContact called in a loop for the same recipients: the part of
//     our time that every automated sender pays (x service, send ledger, conversation).
//     Database commands are counted from the driver's command monitoring over the whole send
//     (Agenda's polling included, shown apart): `commandsPerDm`, with a breakdown by command.
// FerretDB 1.x scans a collection for any filter but `_id`: the send phase runs after the plan
// phase's rows are dropped, so the inbox's per-send lookups do not scan 100,000 contacts, and
// each send phase starts from an empty send ledger, because every send counts the ledger's rows
// (x service) and so costs more as it grows (about 0.75 ms per row per send on FerretDB).

const RECIPIENTS = 100_000;
const SENDS = 2_000;
/** The send phase's cost grows with the send ledger on FerretDB (see the header): capped. */
const MAX_SENDS = 300;
const SEED_PAGE = 5_000;
const BIG = String(1_000_000_000);
/** Agenda's own collection: its polling is counted apart from the send's commands. */
const AGENDA = AGENDA_COLLECTION;

function perDm(count: CommandCount, dms: number) {
	const agenda = Object.entries(count.byTarget)
		.filter(([target]) => target.endsWith(` ${AGENDA}`))
		.reduce((sum, [, n]) => sum + n, 0);
	const round = (n: number) => Math.round((n / Math.max(1, dms)) * 100) / 100;
	return {
		commands: count.total,
		commandsPerDm: round(count.total),
		commandsPerDmWithoutAgenda: round(count.total - agenda),
		byCommand: count.byTarget,
		/** The database's time per command target, summed (commands that overlap each count). */
		msByCommand: count.msByTarget,
	};
}

function memorySampler() {
	const peak = { rss: 0, heapUsed: 0 };
	const sample = () => {
		const m = process.memoryUsage();
		peak.rss = Math.max(peak.rss, m.rss);
		peak.heapUsed = Math.max(peak.heapUsed, m.heapUsed);
	};
	sample();
	const timer = setInterval(sample, 50);
	return () => {
		clearInterval(timer);
		sample();
		return { peakRssMB: Math.round(peak.rss / 2 ** 20), peakHeapMB: Math.round(peak.heapUsed / 2 ** 20) };
	};
}

async function measured<T>(label: string, fn: () => Promise<T>) {
	(globalThis as { gc?: () => void }).gc?.();
	const before = process.memoryUsage();
	const stop = memorySampler();
	const t0 = performance.now();
	const result = await fn();
	const seconds = Math.round((performance.now() - t0) / 10) / 100;
	const mem = stop();
	progress(`campaign-send: ${label} in ${seconds}s, peak rss ${mem.peakRssMB} MB, peak heap ${mem.peakHeapMB} MB`);
	return { result, seconds, ...mem, rssBeforeMB: Math.round(before.rss / 2 ** 20), heapBeforeMB: Math.round(before.heapUsed / 2 ** 20) };
}

/** Empties what sending accumulates (send ledger, conversations, messages), so each phase starts alike. */
async function resetSendState() {
	await SendLedgerModel.deleteMany({});
	await MessageModel.deleteMany({});
	await ConversationModel.deleteMany({});
	await IdempotencyKeyModel.deleteMany({});
}

async function seedContacts(merchantId: string, accountId: string, count: number, tag: string, idBase: number) {
	const now = Date.now();
	for (let from = 0; from < count; from += SEED_PAGE) {
		const docs = [];
		for (let i = from; i < Math.min(count, from + SEED_PAGE); i++) {
			docs.push({
				_id: randomUUID(),
				merchantId,
				accountId,
				twitterUserId: String(idBase + i),
				username: `khach_${i}`,
				usernameLower: `khach_${i}`,
				displayName: `Khách Hàng ${i}`,
				tags: [tag],
				attributes: {},
				source: "inbound_message",
				lastInboundAt: i % 33 === 0 ? null : new Date(now - (i % 1000) * 60_000),
				optedOut: i % 50 === 1,
				optedIn: false,
				createdAt: new Date(now),
				updatedAt: new Date(now),
			});
		}
		await ContactModel.collection.insertMany(docs as never[], { ordered: false });
		if (count > SEED_PAGE) progress(`campaign-send: seeded ${Math.min(count, from + SEED_PAGE)}/${count} contacts`);
	}
}

async function merchantSetup(merchantId: string, tag: string, account: { twitterUserId: string; token: string; secret: string }) {
	const key = config().encryptionKey;
	const acc = await AccountModel.create({
		merchantId,
		twitterUserId: account.twitterUserId,
		username: `shop_${tag}`,
		oauthTokenEnc: encryptSecret(account.token, key),
		oauthTokenSecretEnc: encryptSecret(account.secret, key),
	});
	const template = await TemplateModel.create({
		merchantId,
		name: `Tết ${tag}`,
		type: "text",
		content: "Chào {{name}}, mã {{discount_code}} giảm 10% dịp Tết!",
		variables: ["name", "discount_code"],
	});
	const segment = await SegmentModel.create({
		merchantId,
		name: `Khách ${tag}`,
		match: "all",
		conditions: [{ field: "tags", operator: "contains", value: tag }],
	});
	return { accountId: acc._id as string, templateId: template._id as string, segmentId: segment._id as string };
}

export async function run({ scale = 0.1 }: { scale?: number }) {
	const recipients = Math.max(1000, Math.round(RECIPIENTS * scale));
	const sends = Math.min(MAX_SENDS, Math.max(100, Math.round(SENDS * scale)));

	const consumerKey = `ck-${randomUUID()}`;
	const consumerSecret = `cs-${randomUUID()}`;
	const sandbox = await startXSandbox({ consumerKey, consumerSecret });
	const dir = mkdtempSync(path.join(os.tmpdir(), "mktx-bench-x-"));
	writeFileSync(path.join(dir, "ca.pem"), sandbox.ca);
	Object.assign(process.env, {
		X_API_BASE_URL: sandbox.url,
		X_CONSUMER_KEY: consumerKey,
		X_CONSUMER_SECRET: consumerSecret,
		X_API_CA_FILE: path.join(dir, "ca.pem"),
		SEND_LIMIT_ACCOUNT_PER_DAY: BIG,
		SEND_LIMIT_USER_PER_15MIN: BIG,
		SEND_LIMIT_USER_PER_DAY: BIG,
		SEND_LIMIT_APP_PER_DAY: BIG,
		MONGO_URL: withCommandMonitoring(process.env.MONGO_URL!),
	});
	resetConfig();
	const broker: ServiceBroker = await startBroker(["campaigns", "inbox", "x", "templates", "segments", "contacts"]);
	const call = <T>(action: string, params: object, merchantId: string) =>
		broker.call<T, object>(action, params, { meta: { merchantId }, timeout: 0 });

	try {
		// ---- 1. plan and snapshot
		const planMerchant = `bench-plan-${randomUUID().slice(0, 8)}`;
		const planUser = sandbox.addUser({ token: `tok-${randomUUID()}`, tokenSecret: `sec-${randomUUID()}` });
		const planParts = await merchantSetup(planMerchant, "plan", {
			twitterUserId: planUser.id,
			token: planUser.token,
			secret: planUser.tokenSecret,
		});
		progress(`campaign-send: seeding ${recipients} contacts`);
		await seedContacts(planMerchant, planParts.accountId, recipients, "plan", 6_000_000_000);
		const created = await call<{ id: string }>(
			"campaigns.create",
			{ name: "Plan", templateId: planParts.templateId, segmentIds: [planParts.segmentId], variables: { discount_code: "TET2026" } },
			planMerchant
		);
		const plan = await measured("plan (preview-launch)", () =>
			call<{ eligible: number; skipped: { total: number }; estimatedFinishAt: string }>(
				"campaigns.previewLaunch",
				{ id: created.id },
				planMerchant
			)
		);
		const campaign = (await CampaignModel.findById(created.id).lean())!;
		const segments = [
			{ id: planParts.segmentId, match: "all" as const, conditions: [{ field: "tags", operator: "contains", value: "plan" }] },
		];
		const snapshot = await measured("snapshot", () =>
			snapshotAudience({ _id: campaign._id, merchantId: planMerchant, segments }, new Date(), n => {
				if (n.total % 20_000 === 0) progress(`campaign-send: snapshot ${n.total}/${recipients}`);
			})
		);
		const rows = await CampaignDeliveryModel.countDocuments({ campaignId: campaign._id });
		if (rows !== recipients) throw new Error(`snapshot wrote ${rows} rows for ${recipients} contacts`);
		// Dropped, not deleted: FerretDB's SQLite refuses one delete of 100,000 rows (a variable per row).
		for (const model of [ContactModel, CampaignDeliveryModel]) {
			await model.collection.drop();
			await model.createIndexes();
		}
		await resetSendState();

		// ---- 2. send throughput: the campaign's job chain against a bare twitter-api-v2 loop
		const merchantId = `bench-send-${randomUUID().slice(0, 8)}`;
		const user = sandbox.addUser({ token: `tok-${randomUUID()}`, tokenSecret: `sec-${randomUUID()}` });
		const parts = await merchantSetup(merchantId, "send", { twitterUserId: user.id, token: user.token, secret: user.tokenSecret });
		await seedContacts(merchantId, parts.accountId, Math.ceil(sends / 0.95), "send", 7_000_000_000);
		const send = await call<{ id: string }>(
			"campaigns.create",
			{ name: "Send", templateId: parts.templateId, segmentIds: [parts.segmentId], variables: { discount_code: "TET2026" } },
			merchantId
		);
		const before = sandbox.received().length;
		progress(`campaign-send: sending through the campaign's jobs`);
		const counter = countCommands();
		const t0 = performance.now();
		await call("campaigns.start", { id: send.id }, merchantId);
		let polls = 0;
		for (;;) {
			polls++;
			const c = await CampaignModel.findById(send.id, { status: 1 }).lean();
			if (c?.status === "completed") break;
			await new Promise(r => setTimeout(r, 100));
		}
		const oursSeconds = (performance.now() - t0) / 1000;
		const oursCommands = counter.stop();
		const oursSent = await CampaignDeliveryModel.countDocuments({ campaignId: send.id, status: "sent" });
		if (sandbox.received().length - before !== oursSent) throw new Error("the sandbox and the campaign disagree on what was sent");

		// The bench's own polling of the campaign's status is not the campaign's work.
		oursCommands.total -= polls;
		oursCommands.byTarget["find campaigns"] -= polls;
		const commands = perDm(oursCommands, oursSent);
		progress(
			`campaign-send: ours ${oursSent} DMs in ${oursSeconds.toFixed(1)}s, ${commands.commandsPerDm} database commands per DM (${commands.commandsPerDmWithoutAgenda} without Agenda's polling)`
		);

		// The inbox's own send path alone (what every automated sender goes through: the x service,
		// its send ledger, the conversation), from the same empty ledger and inbox: the rest of
		// the campaign's time is its own (claims, rendering, links, delivery rows, jobs).
		const template = (await TemplateModel.findById(parts.templateId).lean())!;
		const people = await ContactModel.find(
			{ merchantId, optedOut: { $ne: true }, lastInboundAt: { $ne: null } },
			{ twitterUserId: 1, username: 1, displayName: 1, attributes: 1 }
		).lean();
		await resetSendState();
		const inboxCounter = countCommands();
		const i0 = performance.now();
		for (const p of people) {
			const { text } = renderTemplate(template, { contact: p, variables: { discount_code: "TET2026" } });
			await call("inbox.sendToContact", { contactId: p._id, content: text, origin: `campaign:inbox-only` }, merchantId);
		}
		const inboxSeconds = (performance.now() - i0) / 1000;
		const inboxCommands = perDm(inboxCounter.stop(), people.length);
		const inboxOnly = {
			sent: people.length,
			seconds: Math.round(inboxSeconds * 100) / 100,
			messagesPerSecond: Math.round((people.length / inboxSeconds) * 100) / 100,
			commandsPerDm: inboxCommands.commandsPerDm,
		};
		progress(`campaign-send: inbox.sendToContact alone ${inboxOnly.messagesPerSecond} DMs/s; now the bare loop`);
		const client = createXClientFactory({ consumerKey, consumerSecret, apiBaseUrl: sandbox.url, caPem: sandbox.ca, timeoutMs: 10_000 })({
			accessToken: user.token,
			accessSecret: user.tokenSecret,
		});
		const b0 = performance.now();
		for (const p of people) {
			const { text } = renderTemplate(template, { contact: p, variables: { discount_code: "TET2026" } });
			await client.v2.sendDmToParticipant(p.twitterUserId, { text });
		}
		const bareSeconds = (performance.now() - b0) / 1000;

		const candidate = {
			sent: oursSent,
			seconds: Math.round(oursSeconds * 100) / 100,
			messagesPerSecond: Math.round((oursSent / oursSeconds) * 100) / 100,
		};
		const baseline = {
			sent: people.length,
			seconds: Math.round(bareSeconds * 100) / 100,
			messagesPerSecond: Math.round((people.length / bareSeconds) * 100) / 100,
		};
		progress(
			`campaign-send: bare ${baseline.messagesPerSecond} DMs/s, ours ${candidate.messagesPerSecond} DMs/s, ${commands.commandsPerDm} commands per DM`
		);
		return {
			scenario: "campaign-send",
			scale,
			ratio: Math.round((candidate.messagesPerSecond / baseline.messagesPerSecond) * 1000) / 1000,
			candidate,
			baseline,
			commandsPerDm: commands.commandsPerDm,
			commandsPerDmWithoutAgenda: commands.commandsPerDmWithoutAgenda,
			commands: { total: commands.commands, byCommand: commands.byCommand, msByCommand: commands.msByCommand },
			inboxOnly,
			plan: {
				recipients,
				eligible: plan.result.eligible,
				skipped: plan.result.skipped.total,
				seconds: plan.seconds,
				peakRssMB: plan.peakRssMB,
				peakHeapMB: plan.peakHeapMB,
				heapBeforeMB: plan.heapBeforeMB,
			},
			snapshot: {
				recipients,
				rowsPerSecond: Math.round(recipients / snapshot.seconds),
				seconds: snapshot.seconds,
				peakRssMB: snapshot.peakRssMB,
				peakHeapMB: snapshot.peakHeapMB,
				heapBeforeMB: snapshot.heapBeforeMB,
			},
		};
	} finally {
		await broker.stop();
		await sandbox.stop();
		rmSync(dir, { recursive: true, force: true });
		if (mongoose.connection.readyState === 1) await mongoose.disconnect();
	}
}
