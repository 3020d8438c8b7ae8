import { randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type AnalyticsService from "../../services/analytics.service.ts";
import { client, dropDatabase, localService, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { AnalyticsFactModel } from "../../models/analytics-fact.model.ts";
import { uuidFromName } from "../../lib/ids.ts";
import { rebuildMerchant } from "../../services/analytics/rebuild.ts";
import { ANALYTICS_MODELS } from "../../services/analytics/store.ts";

useFreshDatabase("analytics");

// Known data around the Asia/Ho_Chi_Minh (UTC+7) day boundary, 17:00 UTC. Times below are UTC.
// M1 has accounts A1 and A2; M2's rows must never show in M1's figures.
const M1 = "merchant-analytics-1";
const M2 = "merchant-analytics-2";
const A1 = randomUUID();
const A2 = randomUUID();
const AM2 = randomUUID();
const id = (name: string) => uuidFromName(`analytics-test:${name}`);
const t = (iso: string) => new Date(iso);

let node: TestNode;
let api: ReturnType<typeof client>;
const emit = async (event: string, payload: Record<string, unknown>) => {
	await node.broker.emit(event, payload);
	await drain();
};
const drain = () => localService<typeof AnalyticsService>(node.broker, "analytics").drain();

interface Seed {
	contacts: Record<string, unknown>[];
	conversations: Record<string, unknown>[];
	messages: Record<string, unknown>[];
}

function contact(name: string, merchantId: string, accountId: string, createdAt: string, extra: Record<string, unknown> = {}) {
	return {
		_id: id(name),
		merchantId,
		accountId,
		twitterUserId: name,
		username: name,
		source: "inbound_message",
		tags: [],
		optedOut: false,
		optedOutAt: null,
		createdAt: t(createdAt),
		...extra,
	};
}
function conversation(
	name: string,
	contactName: string,
	merchantId: string,
	accountId: string,
	startedAt: string,
	extra: Record<string, unknown> = {}
) {
	return {
		_id: id(name),
		merchantId,
		accountId,
		contactId: id(contactName),
		status: "open",
		openKey: `open:${id(contactName)}`,
		assignedToUserId: null,
		startedAt: t(startedAt),
		firstResponseAt: null,
		closedAt: null,
		escalatedAt: null,
		...extra,
	};
}
function message(
	name: string,
	convName: string,
	contactName: string,
	merchantId: string,
	accountId: string,
	direction: "inbound" | "outbound",
	at: string,
	extra: Record<string, unknown> = {}
) {
	return {
		_id: id(name),
		merchantId,
		accountId,
		conversationId: id(convName),
		contactId: id(contactName),
		direction,
		status: direction === "inbound" ? "received" : "sent",
		origin: direction === "inbound" ? null : "agent",
		sentAt: t(at),
		createdAt: t(at),
		readAt: null,
		responseSeconds: null,
		...extra,
	};
}

const seed: Seed = {
	contacts: [
		contact("c1", M1, A1, "2026-01-16T18:00:00Z", { tags: ["vip"] }), // local 01-17 01:00
		contact("c2", M1, A1, "2026-01-17T23:30:00Z", {
			source: "manual",
			tags: ["vip", "wholesale"],
			optedOut: true,
			optedOutAt: t("2026-01-18T01:00:00Z"),
		}), // local 01-18 06:30
		contact("c3", M1, A2, "2026-01-18T10:00:00Z"), // local 01-18 17:00
		contact("x1", M2, AM2, "2026-01-18T02:00:00Z"),
	],
	conversations: [
		conversation("v1", "c1", M1, A1, "2026-01-16T18:00:00Z", {
			status: "closed",
			openKey: `closed:${id("v1")}`,
			assignedToUserId: "agent-1",
			firstResponseAt: t("2026-01-16T18:03:45Z"),
			closedAt: t("2026-01-17T12:00:00Z"),
		}),
		conversation("v2", "c2", M1, A1, "2026-01-17T23:30:00Z", {
			firstResponseAt: t("2026-01-17T23:31:00Z"),
			escalatedAt: t("2026-01-18T00:00:00Z"),
		}),
		conversation("v3", "c3", M1, A2, "2026-01-18T10:00:00Z", {
			status: "closed",
			openKey: `closed:${id("v3")}`,
			firstResponseAt: t("2026-01-18T10:05:00Z"),
			closedAt: t("2026-01-18T16:00:00Z"),
		}),
		conversation("xv1", "x1", M2, AM2, "2026-01-18T02:00:00Z"),
	],
	messages: [
		message("v1-in", "v1", "c1", M1, A1, "inbound", "2026-01-16T18:00:00Z"),
		message("v1-out", "v1", "c1", M1, A1, "outbound", "2026-01-16T18:03:45Z", { responseSeconds: 225, sentByUserId: "agent-1" }),
		message("v2-in", "v2", "c2", M1, A1, "inbound", "2026-01-17T23:30:00Z"), // the boundary case
		message("v2-bot", "v2", "c2", M1, A1, "outbound", "2026-01-17T23:31:00Z", { origin: "bot", responseSeconds: 60 }),
		message("v2-in2", "v2", "c2", M1, A1, "inbound", "2026-01-18T00:10:00Z"),
		message("v3-in", "v3", "c3", M1, A2, "inbound", "2026-01-18T10:00:00Z"),
		message("v3-out", "v3", "c3", M1, A2, "outbound", "2026-01-18T10:05:00Z", { responseSeconds: 300 }),
		message("v3-cmp", "v3", "c3", M1, A2, "outbound", "2026-01-18T08:00:00Z", {
			origin: "campaign:cmp-1",
			status: "read",
			readAt: t("2026-01-18T09:00:00Z"),
		}),
		message("v3-cmp-fail", "v3", "c3", M1, A2, "outbound", "2026-01-18T08:00:00Z", {
			origin: "campaign:cmp-1",
			status: "failed",
			sentAt: null,
		}),
		message("x1-in", "xv1", "x1", M2, AM2, "inbound", "2026-01-18T02:00:00Z"),
	],
};

/** The events the inbox, contacts and campaigns services emit for the seeded rows. */
async function announceSeed(emitOne: (event: string, payload: Record<string, unknown>) => Promise<unknown>) {
	for (const c of seed.contacts)
		await emitOne("contact.created", { merchantId: c.merchantId, accountId: c.accountId, contactId: c._id, source: c.source });
	for (const v of seed.conversations)
		await emitOne("conversation.created", {
			merchantId: v.merchantId,
			accountId: v.accountId,
			contactId: v.contactId,
			conversationId: v._id,
		});
	for (const m of seed.messages) {
		const base = {
			merchantId: m.merchantId,
			accountId: m.accountId,
			contactId: m.contactId,
			conversationId: m.conversationId,
			messageId: m._id,
		};
		if (m.direction === "inbound") await emitOne("message.received", { ...base, content: "hi", at: m.sentAt });
		else if (m.status === "failed")
			await emitOne("message.failed", {
				merchantId: m.merchantId,
				conversationId: m.conversationId,
				messageId: m._id,
				reason: "x",
				origin: m.origin,
			});
		else {
			await emitOne("message.sent", { ...base, origin: m.origin, at: m.sentAt });
			if (m.status === "read")
				await emitOne("message.read", {
					merchantId: m.merchantId,
					accountId: m.accountId,
					contactId: m.contactId,
					messages: [{ messageId: m._id, origin: m.origin }],
					at: m.readAt,
				});
		}
	}
	await emitOne("conversation.closed", {
		merchantId: M1,
		accountId: A1,
		contactId: id("c1"),
		conversationId: id("v1"),
		reason: null,
		closedByUserId: "agent-1",
	});
	await emitOne("conversation.closed", {
		merchantId: M1,
		accountId: A2,
		contactId: id("c3"),
		conversationId: id("v3"),
		reason: null,
		closedByUserId: "agent-1",
	});
	await emitOne("conversation.escalated", { merchantId: M1, conversationId: id("v2"), reason: "asked for a human" });
	await emitOne("contact.optedOut", { merchantId: M1, contactId: id("c2"), at: "2026-01-18T01:00:00.000Z" });
	await emitOne("campaign.completed", { merchantId: M1, campaignId: "cmp-1", completedAt: "2026-01-18T12:00:00.000Z" });
}

const get = async (path: string, who = api) => {
	const res = await who.get(path);
	if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
	return res.body.data;
};

beforeAll(async () => {
	node = await startNode({ services: ["api", "analytics"], overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } } });
	api = client(node.url, tokenFor(M1));
	await ContactModel.collection.insertMany(seed.contacts as never[]);
	await ConversationModel.collection.insertMany(seed.conversations as never[]);
	await MessageModel.collection.insertMany(seed.messages as never[]);
	await announceSeed(emit);
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

describe("GET /analytics/overview", () => {
	test("sums the local day in Asia/Ho_Chi_Minh: a message at 23:30 UTC counts on the next day", async () => {
		const data = await get("/analytics/overview?startDate=2026-01-18&endDate=2026-01-18");
		expect(data).toEqual({
			period: { startDate: "2026-01-18", endDate: "2026-01-18", timezone: "Asia/Ho_Chi_Minh" },
			summary: {
				totalContacts: 3,
				newContacts: 2,
				totalConversations: 3,
				activeConversations: 1,
				messagesSent: 3,
				messagesReceived: 3,
				campaignsCompleted: 1,
				averageResponseTime: "3m 0s",
				averageResponseTimeSeconds: 180,
			},
			// The day before (01-17 local) had c1, v1 and its two messages.
			trends: { contactsGrowth: 100, conversationsGrowth: 100, messagesGrowth: 200 },
			previousPeriod: { startDate: "2026-01-17", endDate: "2026-01-17" },
		});
	});

	test("the same date read in UTC counts the 23:30 message on the day before", async () => {
		const data = await get("/analytics/overview?startDate=2026-01-18&endDate=2026-01-18&timezone=UTC");
		expect(data.summary).toMatchObject({ messagesReceived: 2, messagesSent: 2, newContacts: 1, averageResponseTime: "5m 0s" });
		const before = await get("/analytics/overview?startDate=2026-01-17&endDate=2026-01-17&timezone=UTC");
		expect(before.summary).toMatchObject({ messagesReceived: 1, messagesSent: 1, newContacts: 1 });
	});

	test("filters by account", async () => {
		const data = await get(`/analytics/overview?startDate=2026-01-18&endDate=2026-01-18&accountId=${A2}`);
		expect(data.summary).toMatchObject({
			totalContacts: 1,
			newContacts: 1,
			messagesReceived: 1,
			messagesSent: 2,
			averageResponseTimeSeconds: 300,
			activeConversations: 0,
		});
		expect(data.summary.campaignsCompleted).toBe(0); // the campaign has no account
	});

	test("an empty period answers zeros, null growth and no average", async () => {
		const data = await get("/analytics/overview?startDate=2025-06-01&endDate=2025-06-30");
		expect(data.summary).toEqual({
			totalContacts: 0,
			newContacts: 0,
			totalConversations: 0,
			activeConversations: 0,
			messagesSent: 0,
			messagesReceived: 0,
			campaignsCompleted: 0,
			averageResponseTime: null,
			averageResponseTimeSeconds: null,
		});
		expect(data.trends).toEqual({ contactsGrowth: null, conversationsGrowth: null, messagesGrowth: null });
	});

	test("another merchant sees only its own figures", async () => {
		const data = await get("/analytics/overview?startDate=2026-01-18&endDate=2026-01-18", client(node.url, tokenFor(M2)));
		expect(data.summary).toMatchObject({ totalContacts: 1, newContacts: 1, messagesReceived: 1, messagesSent: 0 });
	});

	test.each([
		["?endDate=2026-01-18", "startDate", "is required"],
		["?startDate=18/01/2026&endDate=2026-01-18", "startDate", "must be a date as YYYY-MM-DD"],
		["?startDate=2026-01-19&endDate=2026-01-18", "endDate", "must not be before startDate"],
		["?startDate=2025-01-01&endDate=2026-01-18", "endDate", "the period must be at most 366 days"],
		["?startDate=2026-01-18&endDate=2026-01-18&timezone=Asia/Hanoi_City", "timezone", "must be an IANA time zone such as Asia/Ho_Chi_Minh"],
		["?startDate=2026-01-18&endDate=2026-01-18&accountId=abc", "accountId", "must be a valid uuid"],
	])("%s is a 422 naming %s", async (query, field, message) => {
		const res = await api.get(`/analytics/overview${query}`);
		expect(res.status).toBe(422);
		expect(res.body).toMatchObject({ success: false, errorCode: "VALIDATION_ERROR" });
		expect(res.body.details).toContainEqual({ field, message });
	});
});

describe("GET /analytics/contacts", () => {
	test("new per local day, opted out, by source, by account and top tags", async () => {
		const data = await get("/analytics/contacts?startDate=2026-01-16&endDate=2026-01-18");
		expect(data).toEqual({
			period: { startDate: "2026-01-16", endDate: "2026-01-18", timezone: "Asia/Ho_Chi_Minh" },
			summary: { totalContacts: 3, newContacts: 3, optedOut: 1 },
			daily: [
				{ date: "2026-01-16", newContacts: 0, optedOut: 0 },
				{ date: "2026-01-17", newContacts: 1, optedOut: 0 },
				{ date: "2026-01-18", newContacts: 2, optedOut: 1 },
			],
			bySource: [
				{ source: "inbound_message", count: 2 },
				{ source: "manual", count: 1 },
				{ source: "import", count: 0 },
				{ source: "campaign", count: 0 },
			],
			byAccount: [
				{ accountId: A1, newContacts: 2 },
				{ accountId: A2, newContacts: 1 },
			],
			topTags: [
				{ tag: "vip", count: 2 },
				{ tag: "wholesale", count: 1 },
			],
		});
	});
});

describe("GET /analytics/conversations", () => {
	test("opened, closed and escalated per day, first response and resolution, bot share, by assignee", async () => {
		const data = await get("/analytics/conversations?startDate=2026-01-17&endDate=2026-01-18");
		expect(data).toEqual({
			period: { startDate: "2026-01-17", endDate: "2026-01-18", timezone: "Asia/Ho_Chi_Minh" },
			summary: {
				opened: 3,
				closed: 2,
				escalations: 1,
				// (225 + 60 + 300) / 3
				averageFirstResponseTime: "3m 15s",
				averageFirstResponseSeconds: 195,
				// v1: 18 h, v3: 6 h
				averageResolutionTime: "12h 0m 0s",
				averageResolutionSeconds: 43_200,
				answeredByBot: { conversations: 1, percent: 33.3 },
			},
			daily: [
				{ date: "2026-01-17", opened: 1, closed: 1, escalations: 0 },
				{ date: "2026-01-18", opened: 2, closed: 1, escalations: 1 },
			],
			responseTimeTrend: [
				// v1's reply at 01:03 local on the 17th
				{ date: "2026-01-17", responses: 1, averageResponseSeconds: 225, firstResponses: 1, averageFirstResponseSeconds: 225 },
				// v2's bot reply (23:31 UTC on the 17th) and v3's: (60 + 300) / 2
				{ date: "2026-01-18", responses: 2, averageResponseSeconds: 180, firstResponses: 2, averageFirstResponseSeconds: 180 },
			],
			byAssignee: [
				{
					userId: null,
					closed: 1,
					averageResolutionTime: "6h 0m 0s",
					averageResolutionSeconds: 21_600,
					firstResponses: 2,
					averageFirstResponseTime: "3m 0s",
					averageFirstResponseSeconds: 180,
				},
				{
					userId: "agent-1",
					closed: 1,
					averageResolutionTime: "18h 0m 0s",
					averageResolutionSeconds: 64_800,
					firstResponses: 1,
					averageFirstResponseTime: "3m 45s",
					averageFirstResponseSeconds: 225,
				},
			],
		});
	});
});

describe("GET /analytics/conversations: responseTimeTrend", () => {
	// A customer writes at 23:50 local (16:50 UTC) on 03-09 and is answered 30 minutes later,
	// after local midnight; then writes again and is answered in 90 s. M2 answers in 7 s that day.
	beforeAll(async () => {
		const contacts = [contact("rt-c1", M1, A1, "2026-03-09T16:50:00Z"), contact("rt-x1", M2, AM2, "2026-03-10T03:00:00Z")];
		const conversations = [
			conversation("rt-v1", "rt-c1", M1, A1, "2026-03-09T16:50:00Z", { firstResponseAt: t("2026-03-09T17:20:00Z") }),
			conversation("rt-xv1", "rt-x1", M2, AM2, "2026-03-10T03:00:00Z", { firstResponseAt: t("2026-03-10T03:00:07Z") }),
		];
		const messages = [
			message("rt-in1", "rt-v1", "rt-c1", M1, A1, "inbound", "2026-03-09T16:50:00Z"),
			message("rt-out1", "rt-v1", "rt-c1", M1, A1, "outbound", "2026-03-09T17:20:00Z", { responseSeconds: 1800 }),
			message("rt-in2", "rt-v1", "rt-c1", M1, A1, "inbound", "2026-03-10T02:00:00Z"),
			message("rt-out2", "rt-v1", "rt-c1", M1, A1, "outbound", "2026-03-10T02:01:30Z", { origin: "bot", responseSeconds: 90 }),
			message("rt-xin", "rt-xv1", "rt-x1", M2, AM2, "inbound", "2026-03-10T03:00:00Z"),
			message("rt-xout", "rt-xv1", "rt-x1", M2, AM2, "outbound", "2026-03-10T03:00:07Z", { responseSeconds: 7 }),
		];
		await ContactModel.collection.insertMany(contacts as never[]);
		await ConversationModel.collection.insertMany(conversations as never[]);
		await MessageModel.collection.insertMany(messages as never[]);
		for (const m of messages) {
			const base = {
				merchantId: m.merchantId,
				accountId: m.accountId,
				contactId: m.contactId,
				conversationId: m.conversationId,
				messageId: m._id,
			};
			await emit(m.direction === "inbound" ? "message.received" : "message.sent", { ...base, origin: m.origin, at: m.sentAt });
		}
	});
	const none = { responses: 0, averageResponseSeconds: null, firstResponses: 0, averageFirstResponseSeconds: null };

	test("a reply counts on its local day with its seconds; days without replies are null, not 0", async () => {
		const data = await get("/analytics/conversations?startDate=2026-03-09&endDate=2026-03-11&timezone=Asia/Ho_Chi_Minh");
		expect(data.responseTimeTrend).toEqual([
			{ date: "2026-03-09", ...none },
			// (1800 + 90) / 2; the first response is the 30-minute one
			{ date: "2026-03-10", responses: 2, averageResponseSeconds: 945, firstResponses: 1, averageFirstResponseSeconds: 1800 },
			{ date: "2026-03-11", ...none },
		]);
		// Additive: the other fields keep their meaning.
		expect(data.daily.map((d: { date: string }) => d.date)).toEqual(["2026-03-09", "2026-03-10", "2026-03-11"]);
		expect(data.summary.averageFirstResponseSeconds).toBe(1800);
	});

	test("read in UTC, the late-night reply falls on the day before", async () => {
		const data = await get("/analytics/conversations?startDate=2026-03-09&endDate=2026-03-10&timezone=UTC");
		expect(data.responseTimeTrend).toEqual([
			{ date: "2026-03-09", responses: 1, averageResponseSeconds: 1800, firstResponses: 1, averageFirstResponseSeconds: 1800 },
			{ date: "2026-03-10", responses: 1, averageResponseSeconds: 90, firstResponses: 0, averageFirstResponseSeconds: null },
		]);
	});

	test("another merchant's replies never show, and each sees its own", async () => {
		const other = await get("/analytics/conversations?startDate=2026-03-10&endDate=2026-03-10", client(node.url, tokenFor(M2)));
		expect(other.responseTimeTrend).toEqual([
			{ date: "2026-03-10", responses: 1, averageResponseSeconds: 7, firstResponses: 1, averageFirstResponseSeconds: 7 },
		]);
		const byAccount = await get(`/analytics/conversations?startDate=2026-03-10&endDate=2026-03-10&accountId=${A2}`);
		expect(byAccount.responseTimeTrend).toEqual([{ date: "2026-03-10", ...none }]);
	});
});

describe("GET /analytics/campaigns", () => {
	test("per campaign delivered, failed and opened with the contract's rates, and totals", async () => {
		const data = await get("/analytics/campaigns?startDate=2026-01-18&endDate=2026-01-18");
		expect(data.totals).toEqual({
			campaignsCompleted: 1,
			totalSent: 2,
			delivered: 1,
			opened: 1,
			failed: 1,
			deliveryRate: 50,
			openRate: 100,
			failureRate: 50,
		});
		expect(data.campaigns).toEqual([
			{
				campaignId: "cmp-1",
				name: null,
				status: null,
				accountId: null,
				accountIds: [],
				completedInPeriod: true,
				totalSent: 2,
				delivered: 1,
				opened: 1,
				failed: 1,
				deliveryRate: 50,
				openRate: 100,
				failureRate: 50,
				clicked: null,
				replied: null,
				lifetime: null,
			},
		]);
		expect(data.daily).toEqual([{ date: "2026-01-18", delivered: 1, failed: 1, opened: 1, completed: 1 }]);
		expect(data.unavailable).toEqual(["name", "status", "clicked", "replied"]);
	});

	test("adds name, status and lifetime metrics when the campaigns service offers campaigns.metricsFor", async () => {
		const asked: unknown[] = [];
		const fake = node.broker.createService({
			name: "campaigns",
			actions: {
				metricsFor: {
					visibility: "public",
					handler(ctx: { params: { campaignIds: string[] }; meta: { merchantId?: string } }) {
						asked.push({ merchantId: ctx.meta.merchantId, ...ctx.params });
						return { "cmp-1": { name: "Tết", status: "completed", metrics: { totalSent: 10, delivered: 9, clicked: 4, replied: 2 } } };
					},
				},
			},
		});
		await node.broker.waitForServices("campaigns");
		try {
			const data = await get("/analytics/campaigns?startDate=2026-01-18&endDate=2026-01-18");
			expect(asked).toEqual([{ merchantId: M1, campaignIds: ["cmp-1"] }]);
			expect(data.campaigns[0]).toMatchObject({
				name: "Tết",
				status: "completed",
				clicked: 4,
				replied: 2,
				lifetime: { totalSent: 10, delivered: 9, clicked: 4, replied: 2 },
			});
			expect(data.unavailable).toEqual([]);
		} finally {
			await node.broker.destroyService(fake);
		}
	});
});

describe("live counting", () => {
	const overviewOf = async (who = api, query = "startDate=2026-01-17&endDate=2026-01-18") => get(`/analytics/overview?${query}`, who);

	test("replayed and duplicated events count once, even delivered all at the same time", async () => {
		const before = await overviewOf();
		const fired: Promise<unknown>[] = [];
		await announceSeed(async (event, payload) => {
			fired.push(node.broker.emit(event, payload), node.broker.emit(event, payload));
		});
		await Promise.all(fired);
		await drain();
		expect(await overviewOf()).toEqual(before);
		expect(await get("/analytics/conversations?startDate=2026-01-17&endDate=2026-01-18")).toMatchObject({
			summary: { opened: 3, closed: 2 },
		});
	});

	test("forty messages in one quarter hour, announced at once, are all counted (no lost update on FerretDB)", async () => {
		const M3 = "merchant-analytics-3";
		const acc = randomUUID();
		await ContactModel.collection.insertOne(contact("burst", M3, acc, "2026-02-01T09:00:00Z") as never);
		await ConversationModel.collection.insertOne(conversation("burst-v", "burst", M3, acc, "2026-02-01T09:00:00Z") as never);
		const burst = Array.from({ length: 40 }, (_, i) =>
			message(`burst-${i}`, "burst-v", "burst", M3, acc, i % 4 ? "inbound" : "outbound", `2026-02-01T09:0${i % 10}:00Z`)
		);
		await MessageModel.collection.insertMany(burst as never[]);
		await Promise.all(
			burst.map(m =>
				node.broker.emit(m.direction === "inbound" ? "message.received" : "message.sent", {
					merchantId: M3,
					accountId: acc,
					contactId: m.contactId,
					conversationId: m.conversationId,
					messageId: m._id,
				})
			)
		);
		await drain();
		const data = await get("/analytics/overview?startDate=2026-02-01&endDate=2026-02-01", client(node.url, tokenFor(M3)));
		expect(data.summary).toMatchObject({ messagesReceived: 30, messagesSent: 10, newContacts: 1, totalConversations: 1 });
	});

	test("an opt-in, a removed tag and a reassignment move the figures to the contact's and conversation's new state", async () => {
		await ContactModel.collection.updateOne({ _id: id("c2") } as never, {
			$set: { optedOut: false, optedOutAt: null, tags: ["wholesale"] },
		});
		await emit("contact.optedIn", { merchantId: M1, contactId: id("c2"), at: new Date().toISOString() });
		await ConversationModel.collection.updateOne({ _id: id("v3") } as never, { $set: { assignedToUserId: "agent-2" } });
		await emit("conversation.assigned", { merchantId: M1, conversationId: id("v3"), contactId: id("c3"), userId: "agent-2" });
		const contacts = await get("/analytics/contacts?startDate=2026-01-16&endDate=2026-01-18");
		expect(contacts.summary.optedOut).toBe(0);
		expect(contacts.topTags).toEqual([
			{ tag: "vip", count: 1 },
			{ tag: "wholesale", count: 1 },
		]);
		const conversations = await get("/analytics/conversations?startDate=2026-01-17&endDate=2026-01-18");
		expect(conversations.byAssignee.map((a: { userId: string | null; closed: number }) => [a.userId, a.closed])).toEqual([
			["agent-1", 1],
			["agent-2", 1],
			[null, 0],
		]);
	});

	test("X's echo of our own send, stored then dropped by the inbox, does not count twice", async () => {
		const twitterMessageId = "tw-echo-1";
		const echoId = uuidFromName(`x-dm:${A2}:${twitterMessageId}`);
		const at = "2026-01-18T11:00:00Z";
		await MessageModel.collection.insertOne({
			...message("echo-src", "v3", "c3", M1, A2, "outbound", at, { origin: "x_app", twitterMessageId }),
			_id: echoId,
		} as never);
		await emit("message.sent", { merchantId: M1, accountId: A2, contactId: id("c3"), conversationId: id("v3"), messageId: echoId });
		const withEcho = (await overviewOf()).summary.messagesSent;
		// The send finishes: our message gets X's id, the echo row is deleted, then message.sent.
		await MessageModel.collection.insertOne(message("ours", "v3", "c3", M1, A2, "outbound", at, { twitterMessageId }) as never);
		await MessageModel.collection.deleteOne({ _id: echoId } as never);
		await emit("message.sent", {
			merchantId: M1,
			accountId: A2,
			contactId: id("c3"),
			conversationId: id("v3"),
			messageId: id("ours"),
			origin: "agent",
		});
		expect((await overviewOf()).summary.messagesSent).toBe(withEcho);
	});

	test("an erased contact's figures leave the counters", async () => {
		const before = (await overviewOf()).summary;
		await MessageModel.collection.deleteMany({ contactId: id("c1") } as never);
		await ConversationModel.collection.deleteMany({ contactId: id("c1") } as never);
		await ContactModel.collection.deleteOne({ _id: id("c1") } as never);
		await emit("contact.erased", { merchantId: M1, contactId: id("c1") });
		const after = (await overviewOf()).summary;
		expect(after).toMatchObject({
			totalContacts: before.totalContacts - 1,
			newContacts: before.newContacts - 1,
			totalConversations: before.totalConversations - 1,
			messagesReceived: before.messagesReceived - 1,
			messagesSent: before.messagesSent - 1,
		});
		expect(await AnalyticsFactModel.countDocuments({ contactId: id("c1") })).toBe(0);
	});
});

describe("rebuild", () => {
	const queries = [
		"overview?startDate=2026-01-18&endDate=2026-01-18",
		"overview?startDate=2026-01-01&endDate=2026-02-28&timezone=America/New_York",
		`overview?startDate=2026-01-17&endDate=2026-01-18&accountId=${A1}`,
		"contacts?startDate=2026-01-10&endDate=2026-01-20",
		"conversations?startDate=2026-01-10&endDate=2026-01-20&timezone=Asia/Kathmandu",
		"campaigns?startDate=2026-01-01&endDate=2026-01-31",
	];
	const snapshot = async () => Promise.all(queries.map(q => get(`/analytics/${q}`)));
	const wipe = async () => {
		for (const model of ANALYTICS_MODELS) await model.collection.deleteMany({});
	};

	test("recomputing from the raw rows gives the same numbers as the live counters, in place or from nothing", async () => {
		const live = await snapshot();
		expect(live[0].summary.messagesReceived).toBeGreaterThan(0);
		await rebuildMerchant(M1);
		expect(await snapshot()).toEqual(live);
		// Facts and rows gone (a lost collection): the raw rows give everything back but the
		// campaign completion, which only an event reported (there is no campaigns collection here).
		await wipe();
		await rebuildMerchant(M1);
		expect((await snapshot())[0].summary).toEqual({ ...live[0].summary, campaignsCompleted: 0 });
		await emit("campaign.completed", { merchantId: M1, campaignId: "cmp-1", completedAt: "2026-01-18T12:00:00.000Z" });
		expect(await snapshot()).toEqual(live);
	});

	test("a rebuild while events keep arriving ends with every event counted, as a quiet rebuild then confirms", async () => {
		const before = (await get("/analytics/overview?startDate=2026-01-18&endDate=2026-01-18")).summary;
		const late = Array.from({ length: 6 }, (_, i) => message(`late-${i}`, "v2", "c2", M1, A1, "inbound", `2026-01-18T0${i}:20:00Z`));
		await MessageModel.collection.insertMany(late as never[]);
		await Promise.all([
			rebuildMerchant(M1),
			(async () => {
				for (const m of late)
					await node.broker.emit("message.received", {
						merchantId: M1,
						accountId: A1,
						contactId: m.contactId,
						conversationId: m.conversationId,
						messageId: m._id,
					});
			})(),
		]);
		await drain();
		const during = await snapshot();
		expect(during[0].summary.messagesReceived).toBe(before.messagesReceived + 6);
		await rebuildMerchant(M1);
		expect(await snapshot()).toEqual(during);
	});

	test("npm run analytics:rebuild -- --merchant rebuilds a merchant and leaves the figures unchanged", async () => {
		const live = await snapshot();
		const { stdout } = await promisify(execFile)("node", ["bin/analytics-rebuild.ts", "--merchant", M1], {
			env: { ...process.env },
			cwd: process.cwd(),
		});
		const result = JSON.parse(stdout.trim().split("\n").pop()!);
		expect(result).toMatchObject({ merchantId: M1, recountedAfter: 0 });
		expect(result.facts).toBeGreaterThan(10);
		expect(await snapshot()).toEqual(live);
	});
});
