import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectThroughApi } from "../helpers/accounts.ts";
import { MessageModel } from "../../models/message.model.ts";

// The response-time trend end to end: a customer writes through X's webhook, an agent answers
// through the API (the send is announced when X accepts it; the inbox's writer times it a little
// later and says so), and GET /analytics/conversations shows the reply on its local day with the
// seconds the inbox measured, for its merchant only.

useFreshDatabase("analytics-response-trend");

const M1 = "m-response-trend-1";
const M2 = "m-response-trend-2";
let x: TestSandbox;
let node: TestNode;

beforeAll(async () => {
	x = await startTestSandbox();
	node = await startNode({
		services: ["api", "accounts", "webhooks", "inbox", "x", "contacts", "analytics"],
		overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } },
	});
	x.sandbox.setWebhookUrl(`${node.url}/api/v1/mkt-x/webhooks/twitter`);
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	await dropDatabase();
});

/** A customer of `merchantId` writes, waits `waitMs`, and an agent answers in the conversation; the reply's stored row. */
async function writeAndAnswer(merchantId: string, customerId: string, waitMs: number) {
	const { user } = await connectThroughApi(x.sandbox, node.url, merchantId);
	const api = client(node.url, tokenFor(merchantId, { userId: "agent-1" }));
	const from = { id: customerId, username: `khach_${customerId}`, name: "Khách", profileImageUrl: null };
	expect((await x.sandbox.postInboundDm({ to: user.id, from, text: "Còn hàng không shop?" })).status).toBe(200);
	let conversationId = "";
	await waitUntil(
		async () => {
			conversationId = (await api.get("/conversations")).body.data?.[0]?.id ?? "";
			return Boolean(conversationId);
		},
		15_000,
		"the customer's conversation"
	);
	await new Promise(r => setTimeout(r, waitMs));
	const sent = await api.post(`/conversations/${conversationId}/messages`, { content: "Dạ còn ạ" });
	expect(sent.status).toBe(200);
	const messageId = sent.body.data.id as string;
	// The inbox's writer times the reply (customer's message → reply) after X accepted it.
	await waitUntil(
		async () => typeof (await MessageModel.findById(messageId, { responseSeconds: 1 }).lean())?.responseSeconds === "number",
		15_000,
		"the reply timed by the inbox"
	);
	return (await MessageModel.findById(messageId).lean())!;
}

const localDate = (at: Date, timeZone: string) => new Intl.DateTimeFormat("en-CA", { timeZone }).format(at);
const shift = (date: string, days: number) => new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);

test("an agent's reply after a customer's message shows on its local day with the inbox's seconds, in the zone asked, for its merchant only", async () => {
	const reply = await writeAndAnswer(M1, "8800000001", 1500);
	const seconds = reply.responseSeconds as number;
	expect(seconds).toBeGreaterThanOrEqual(1);
	await writeAndAnswer(M2, "8800000002", 0);

	const api = client(node.url, tokenFor(M1));
	const trend = async (timeZone: string) => {
		const day = localDate(reply.sentAt as Date, timeZone);
		const res = await api.get(
			`/analytics/conversations?startDate=${shift(day, -1)}&endDate=${shift(day, 1)}&timezone=${encodeURIComponent(timeZone)}`
		);
		expect(res.status).toBe(200);
		return { day, series: res.body.data.responseTimeTrend as Record<string, unknown>[] };
	};
	const none = { responses: 0, averageResponseSeconds: null, firstResponses: 0, averageFirstResponseSeconds: null };
	// The reply's fact and the conversation's first response are written one after the other
	// (analytics' message.responseTimed handler): wait for both.
	const counted = (day: Record<string, unknown>) => day.responses === 1 && day.firstResponses === 1;
	await waitUntil(async () => counted((await trend("Asia/Ho_Chi_Minh")).series[1]), 15_000, "the reply and the first response counted");
	// Two zones 25 hours apart: the reply's day is a different date in each, and there it is.
	for (const zone of ["Asia/Ho_Chi_Minh", "Pacific/Kiritimati", "Pacific/Pago_Pago"]) {
		const { day, series } = await trend(zone);
		expect(series).toEqual([
			{ date: shift(day, -1), ...none },
			{ date: day, responses: 1, averageResponseSeconds: seconds, firstResponses: 1, averageFirstResponseSeconds: seconds },
			{ date: shift(day, 1), ...none },
		]);
	}
	// M2's reply, the same day, is M2's alone (M1's figures above never held it).
	const today = localDate(reply.sentAt as Date, "Asia/Ho_Chi_Minh");
	const m2 = client(node.url, tokenFor(M2));
	const otherDay = async () =>
		(await m2.get(`/analytics/conversations?startDate=${today}&endDate=${today}`)).body.data.responseTimeTrend[0];
	await waitUntil(async () => counted(await otherDay()), 15_000, "M2's reply and first response counted");
	expect(await otherDay()).toMatchObject({ responses: 1, firstResponses: 1 });
	expect((await trend("Asia/Ho_Chi_Minh")).series[1]).toMatchObject({ responses: 1, averageResponseSeconds: seconds });
});
