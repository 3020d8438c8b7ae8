import type AnalyticsService from "../../services/analytics.service.ts";
import { client, dropDatabase, localService, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, TEST_CONSUMER_SECRET } from "../helpers/x-events.ts";
import { createAccount } from "../helpers/accounts.ts";
import { accountApplied } from "../helpers/inbox.ts";

// The whole path: X's webhook → inbox (contact, conversation, message, response time) → its
// events → analytics counters → GET /analytics/overview.

process.env.X_CONSUMER_SECRET = TEST_CONSUMER_SECRET;
useFreshDatabase("analytics-webhooks");

const M = "m-analytics-wh";
let node: TestNode;

beforeAll(async () => {
	node = await startNode({
		services: ["api", "accounts", "webhooks", "inbox", "contacts", "analytics"],
		overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } },
	});
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

test("a DM at 23:30 UTC and the shop's reply from X's app count on the next Ho Chi Minh day, answered in 3m 45s", async () => {
	const { account } = await createAccount(M);
	const customer = "555000111";
	const users = { [customer]: { screen_name: "khach_hang", name: "Khách Hàng" } };
	const inbound = dmPayload({
		forUserId: account.twitterUserId,
		eventId: "9100001",
		senderId: customer,
		recipientId: account.twitterUserId,
		text: "Còn hàng không?",
		at: new Date("2026-01-17T23:30:00Z"),
		users,
	});
	const reply = dmPayload({
		forUserId: account.twitterUserId,
		eventId: "9100002",
		senderId: account.twitterUserId,
		recipientId: customer,
		text: "Dạ còn ạ",
		at: new Date("2026-01-17T23:33:45Z"),
		users,
	});
	expect((await postWebhook(node.url, inbound)).status).toBe(200);
	await waitUntil(() => accountApplied(account._id, 1), 10_000, "the inbound DM announced");
	expect((await postWebhook(node.url, reply)).status).toBe(200);
	await waitUntil(() => accountApplied(account._id, 2), 10_000, "the reply announced");
	await localService<typeof AnalyticsService>(node.broker, "analytics").drain();

	const api = client(node.url, tokenFor(M));
	const overview = async (query: string) => {
		const res = await api.get(`/analytics/overview?${query}`);
		expect(res.status).toBe(200);
		return res.body.data;
	};
	await waitUntil(
		async () => (await overview("startDate=2026-01-18&endDate=2026-01-18")).summary.messagesSent === 1,
		10_000,
		"the reply counted"
	);
	const day = await overview("startDate=2026-01-18&endDate=2026-01-18");
	expect(day.summary).toEqual({
		totalContacts: 1,
		newContacts: 1,
		totalConversations: 1,
		activeConversations: 1,
		messagesSent: 1,
		messagesReceived: 1,
		campaignsCompleted: 0,
		averageResponseTime: "3m 45s",
		averageResponseTimeSeconds: 225,
	});
	expect((await overview("startDate=2026-01-17&endDate=2026-01-17")).summary).toMatchObject({
		messagesReceived: 0,
		newContacts: 0,
		totalContacts: 0,
	});
	expect((await overview("startDate=2026-01-17&endDate=2026-01-17&timezone=UTC")).summary).toMatchObject({
		messagesReceived: 1,
		messagesSent: 1,
		newContacts: 1,
	});
});
