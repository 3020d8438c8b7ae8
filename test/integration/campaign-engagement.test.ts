import { randomUUID } from "node:crypto";
import type AnalyticsService from "../../services/analytics.service.ts";
import {
	client,
	dropDatabase,
	eventRecorder,
	localService,
	startNode,
	tokenFor,
	useFreshDatabase,
	type TestNode,
} from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel, deliveryId } from "../../models/campaign-delivery.model.ts";
import { CampaignLinkModel } from "../../models/campaign-link.model.ts";
import { snapshotAudience } from "../../services/campaigns/audience.ts";
import { createAccount } from "../helpers/accounts.ts";

// What happens after a campaign's messages went out, through the real campaigns and analytics
// services on FerretDB: tracking links (rate limited per client address, one answer for every
// bad token), the campaign's accounts, `campaign.replied`, and `/analytics/campaigns` with the
// campaigns service's names, statuses, clicks and replies.

useFreshDatabase("campaign_engagement");

const M = `m-${randomUUID().slice(0, 8)}`;
const A1 = randomUUID();
const A2 = randomUUID();
const LINK_LIMIT = 8;
let node: TestNode;
const replied = eventRecorder(["campaign.replied"]);

beforeAll(async () => {
	node = await startNode({
		services: ["api", "campaigns", "analytics"],
		overrides: { api: { settings: { rateLimitPerMinute: 100_000, redirectsPerMinute: LINK_LIMIT } } },
		extraServices: [replied.schema],
	});
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const drainAnalytics = () => localService<typeof AnalyticsService>(node.broker, "analytics").drain();

async function contactOn(accountId: string) {
	return (await ContactModel.create({ merchantId: M, accountId, twitterUserId: randomUUID(), tags: ["tet"], lastInboundAt: new Date() }))
		._id as string;
}

describe("the campaign's accounts", () => {
	test("the snapshot records every sending account and the one sending to most recipients", async () => {
		for (const _id of [A1, A2]) await createAccount(M, { fields: { _id, username: `acc_${_id.slice(0, 6)}` } });
		await Promise.all([contactOn(A2), contactOn(A2), contactOn(A1)]);
		const campaign = await CampaignModel.create({
			merchantId: M,
			name: "Tết",
			templateId: randomUUID(),
			segmentIds: [],
			status: "running",
		});
		const segments = [{ id: randomUUID(), conditions: [{ field: "tags", operator: "contains", value: "tet" }] }];
		const counts = await snapshotAudience({ _id: campaign._id, merchantId: M, segments }, new Date(), () => {});
		expect(counts).toEqual({ total: 3, eligible: 3, skipped: 0 });
		const row = await CampaignModel.findById(campaign._id).lean();
		expect({ accountId: row?.accountId, accountIds: row?.accountIds }).toEqual({ accountId: A2, accountIds: [A1, A2].sort() });
	});
});

describe("GET /r/:token", () => {
	test("a known token redirects; unknown and malformed tokens answer one and the same 404; past the limit per address, 429", async () => {
		const token = randomUUID().replace(/-/g, "");
		await CampaignLinkModel.create({
			_id: token,
			merchantId: M,
			campaignId: randomUUID(),
			deliveryId: randomUUID(),
			contactId: randomUUID(),
			url: "https://shop.example/tet",
		});
		const visitor = client(node.url);
		const hit = await visitor.get(`/r/${token}`);
		expect(hit.status).toBe(302);
		expect(hit.headers.get("location")).toBe("https://shop.example/tet");

		const bad = [randomUUID().replace(/-/g, ""), "x", "a".repeat(500), "%E2%9C%93%27%22", token.slice(0, -1)];
		const answers = [];
		for (const t of bad) answers.push(await visitor.get(`/r/${t}`, { "Accept-Language": "vi" }));
		expect(new Set(answers.map(a => a.status))).toEqual(new Set([404]));
		expect(new Set(answers.map(a => JSON.stringify(a.body))).size).toBe(1);
		expect(answers[0].body).toEqual({ success: false, error: "Không tìm thấy tài nguyên", errorCode: "NOT_FOUND" });

		// 6 visits so far; the limit is 8 a minute for this address, whatever the token.
		expect((await visitor.get(`/r/${token}`)).status).toBe(302);
		expect((await visitor.get(`/r/${bad[0]}`)).status).toBe(404);
		const limited = await visitor.get(`/r/${token}`);
		expect(limited.status).toBe(429);
		expect(limited.body).toMatchObject({ success: false, errorCode: "RATE_LIMITED" });
		expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
	});
});

describe("replies and /analytics/campaigns", () => {
	test("a reply within the window is the campaign's and is announced once per message; analytics show name, status, clicks, replies and the account", async () => {
		const api = client(node.url, tokenFor(M));
		const campaign = await CampaignModel.create({
			merchantId: M,
			name: "Trung thu",
			templateId: randomUUID(),
			segmentIds: [],
			status: "running",
			accountId: A1,
			accountIds: [A1],
		});
		const people = await Promise.all([contactOn(A1), contactOn(A1), contactOn(A1)]);
		const sentAt = new Date(Date.now() - 3600_000);
		await CampaignDeliveryModel.insertMany(
			people.map((contactId, i) => ({
				_id: deliveryId(campaign._id, contactId),
				merchantId: M,
				campaignId: campaign._id,
				contactId,
				accountId: A1,
				status: "sent" as const,
				messageId: randomUUID(),
				sentAt,
				clickedAt: i < 2 ? new Date() : null,
				openedAt: i < 2 ? new Date() : null,
			}))
		);
		const message = {
			merchantId: M,
			accountId: A1,
			contactId: people[0],
			conversationId: randomUUID(),
			messageId: randomUUID(),
			content: "Còn hàng không?",
			at: new Date().toISOString(),
		};
		await node.broker.emit("message.received", message);
		await node.broker.emit("message.received", { ...message, messageId: randomUUID() }); // a second message: not the reply
		expect(replied.of("campaign.replied")).toEqual([
			{
				merchantId: M,
				campaignId: campaign._id,
				contactId: people[0],
				messageId: message.messageId,
				conversationId: message.conversationId,
				at: message.at,
			},
		]);

		await CampaignModel.updateOne({ _id: campaign._id }, { $set: { status: "completed", completedAt: new Date() } });
		await node.broker.emit("campaign.completed", { merchantId: M, campaignId: campaign._id });
		await drainAnalytics();
		const today = new Date().toISOString().slice(0, 10);
		const period = `startDate=${today}&endDate=${today}&timezone=UTC`;
		const all = (await api.get(`/analytics/campaigns?${period}`)).body.data;
		expect(all.unavailable).toEqual([]);
		expect(all.totals.campaignsCompleted).toBe(1);
		expect(all.campaigns).toEqual([
			expect.objectContaining({
				campaignId: campaign._id,
				name: "Trung thu",
				status: "completed",
				accountId: A1,
				accountIds: [A1],
				completedInPeriod: true,
				clicked: 2,
				replied: 1,
			}),
		]);
		expect((await api.get(`/analytics/campaigns?${period}&accountId=${A1}`)).body.data.totals.campaignsCompleted).toBe(1);
		expect((await api.get(`/analytics/campaigns?${period}&accountId=${A2}`)).body.data.totals.campaignsCompleted).toBe(0);
		expect((await api.get(`/analytics/overview?${period}&accountId=${A1}`)).body.data.summary.campaignsCompleted).toBe(1);
	});
});
