import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectAccount } from "../helpers/accounts.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { resetConfig } from "../../lib/config.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { clock } from "../../services/campaigns/clock.ts";

// The batch send pipeline under two workers, and X out: batches of several recipients
// (CAMPAIGN_BATCH_SIZE=4) against the X sandbox; each recipient's DMs are counted on what the
// sandbox received. Time is the campaigns' clock (and the x service's), set by the test.

useFreshDatabase("campaign_outage");

const GATEWAY = ["api", "accounts", "contacts", "templates", "segments", "inbox", "x", "campaigns"];
const WORKER = ["inbox", "x", "campaigns"];
const clockedX = { methods: { now: () => clock.now() } };
const savedBatch = process.env.CAMPAIGN_BATCH_SIZE;

let x: TestSandbox;
const nodes: TestNode[] = [];

beforeAll(async () => {
	process.env.CAMPAIGN_BATCH_SIZE = "4";
	resetConfig();
	x = await startTestSandbox();
	await acquireDb(process.env.MONGO_URL!);
});
afterEach(async () => {
	clock.now = () => new Date();
	while (nodes.length) await nodes.pop()!.stop();
});
afterAll(async () => {
	if (savedBatch === undefined) delete process.env.CAMPAIGN_BATCH_SIZE;
	else process.env.CAMPAIGN_BATCH_SIZE = savedBatch;
	resetConfig();
	await x.stop();
	await dropDatabase();
	await releaseDb();
});

async function start(services: string[]) {
	const node = await startNode({ services, overrides: { x: clockedX } });
	nodes.push(node);
	return node;
}

let nextTwitterId = 8_400_000_000;

async function campaignOf(node: TestNode, n: number) {
	const merchantId = `m-${randomUUID().slice(0, 8)}`;
	const api = client(node.url, tokenFor(merchantId));
	const { account } = await connectAccount(x.sandbox, merchantId);
	const tag = `t-${randomUUID().slice(0, 6)}`;
	const people = await ContactModel.create(
		Array.from({ length: n }, (_, i) => ({
			merchantId,
			accountId: account._id,
			twitterUserId: String(nextTwitterId++),
			displayName: `Khách ${i + 1}`,
			tags: [tag],
			lastInboundAt: new Date(),
		}))
	);
	const template = (await api.post("/templates", { name: `tpl ${tag}`, content: "Chào {{name}}, Tết này giảm 20%!" })).body.data;
	const segment = (await api.post("/segments", { name: `seg ${tag}`, conditions: [{ field: "tags", operator: "contains", value: tag }] }))
		.body.data;
	const created = await api.post("/campaigns", { name: `Chiến dịch ${tag}`, templateId: template.id, segmentIds: [segment.id] });
	expect(created.status).toBe(200);
	return {
		api,
		merchantId,
		campaignId: created.body.data.id as string,
		ids: people.map(p => p.twitterUserId),
		contactIds: people.map(p => p._id as string),
	};
}

const receivedBy = (ids: string[]) => ids.map(id => x.sandbox.received().filter(d => d.recipientId === id).length);
const statuses = async (campaignId: string) => {
	const out: Record<string, number> = {};
	for (const r of await CampaignDeliveryModel.find({ campaignId }, { status: 1 }).lean()) out[r.status] = (out[r.status] ?? 0) + 1;
	return out;
};
const statusOf = async (campaignId: string) => (await CampaignModel.findById(campaignId, { status: 1 }).lean())?.status;

// 14 recipients: within X's 15 DMs per 15 minutes of one account.
test("two workers running the same campaign's batches at once send each recipient one DM", async () => {
	const gateway = await start(GATEWAY);
	const [a, b] = [await start(WORKER), await start(WORKER)];
	const { api, campaignId, ids } = await campaignOf(gateway, 14);
	await api.post(`/campaigns/${campaignId}/start`);
	// Both workers take batches of the same campaign side by side (and the job chain a third).
	await Promise.all([a.broker.call("campaigns.runBatch", { campaignId }), b.broker.call("campaigns.runBatch", { campaignId })]);
	await waitUntil(async () => (await statusOf(campaignId)) === "completed", 30_000, "the campaign to complete");
	expect(receivedBy(ids)).toEqual(Array(14).fill(1));
	expect(await statuses(campaignId)).toEqual({ sent: 14 });
	expect(await MessageModel.countDocuments({ origin: `campaign:${campaignId}`, status: "sent" })).toBe(14);
});

test("a repeated batch with the same Idempotency-Keys from two nodes sends each item once", async () => {
	const gateway = await start(GATEWAY);
	const other = await start(WORKER);
	const { merchantId, contactIds, ids } = await campaignOf(gateway, 5);
	const items = contactIds.map((contactId, i) => ({
		key: `k${i}`,
		contactId,
		content: `Xin chào #${i}`,
		idempotencyKey: `bot:batch-${contactId}`,
	}));
	const params = { origin: "bot", items };
	const opts = { meta: { merchantId } };
	const [first, second] = await Promise.all([
		gateway.broker.call("inbox.sendBatch", params, opts),
		other.broker.call("inbox.sendBatch", params, opts),
	]);
	const outcomes = [...(first as { results: { status: string }[] }).results, ...(second as { results: { status: string }[] }).results].map(
		r => r.status
	);
	expect(outcomes.filter(s => s === "sent").length + outcomes.filter(s => s === "in_progress").length).toBe(10);
	expect(receivedBy(ids)).toEqual(Array(5).fill(1));
	// Once both are done, a third repeat answers the first sends.
	const third = (await other.broker.call("inbox.sendBatch", params, opts)) as { results: { status: string; messageId: string }[] };
	expect(third.results.map(r => r.status)).toEqual(Array(5).fill("sent"));
	expect(receivedBy(ids)).toEqual(Array(5).fill(1));
});

test("X out (503) holds the account's sends instead of failing recipients, backs off while it lasts, then sends each once", async () => {
	const t0 = new Date();
	clock.now = () => t0;
	const node = await start(GATEWAY);
	const { api, campaignId, ids } = await campaignOf(node, 6);
	// X is out until the test says it is back: every DM call answers 503, however many of a batch
	// are in flight at once (SEND_PARALLELISM) and whichever job or call sends them.
	const outage = { status: 503, times: 10_000 };
	x.sandbox.failNext(outage);
	await api.post(`/campaigns/${campaignId}/start`);

	await waitUntil(
		async () => Boolean((await CampaignModel.findById(campaignId, { holds: 1 }).lean())?.holds?.length),
		10_000,
		"the account to be held"
	);
	await waitUntil(async () => ((await statuses(campaignId)).pending ?? 0) === 6, 10_000, "the batch to be put back");
	let c = (await CampaignModel.findById(campaignId).lean())!;
	expect(c.holds).toEqual([expect.objectContaining({ outages: 1 })]);
	const firstUntil = new Date(c.holds[0].until).getTime();
	expect(firstUntil - t0.getTime()).toBe(30_000);
	expect(receivedBy(ids)).toEqual(Array(6).fill(0));
	expect(await CampaignSendClaimModel.countDocuments({ campaignId })).toBe(0);
	expect(await MessageModel.countDocuments({ origin: `campaign:${campaignId}` })).toBe(0);

	// Still out at the retry: the wait doubles.
	const t1 = new Date(firstUntil + 1000);
	clock.now = () => t1;
	expect(((await node.broker.call("campaigns.runBatch", { campaignId })) as { state: string }).state).toBe("waiting");
	c = (await CampaignModel.findById(campaignId).lean())!;
	const second = c.holds.find(h => new Date(h.until) > t1)!;
	expect(second).toMatchObject({ outages: 2 });
	expect(new Date(second.until).getTime() - t1.getTime()).toBe(60_000);
	// The campaign's own job (or the sweeper) may have run a batch beside this one, into the same
	// outage: once it has put its claims back, every recipient waits.
	await waitUntil(
		async () => JSON.stringify(await statuses(campaignId)) === JSON.stringify({ pending: 6 }),
		10_000,
		"every recipient back to pending"
	);

	// X is back: every recipient gets the message once, and the outage is forgotten.
	x.sandbox.reset();
	clock.now = () => new Date(t1.getTime() + 61_000);
	// The campaign's own job chain (started at once now, not at Agenda's next poll) may be sending
	// this batch beside the call: either way it completes, with each recipient sent once.
	await node.broker.call("campaigns.runBatch", { campaignId });
	await waitUntil(
		async () => (await CampaignModel.findById(campaignId, { status: 1 }).lean())?.status === "completed",
		15_000,
		"the campaign to complete"
	);
	expect(await statusOf(campaignId)).toBe("completed");
	expect(receivedBy(ids)).toEqual(Array(6).fill(1));
	expect(await statuses(campaignId)).toEqual({ sent: 6 });
});
