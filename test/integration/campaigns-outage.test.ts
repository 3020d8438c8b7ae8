import { dropDatabase, startNode, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { campaignOf, campaignStatus, deliveryStatuses, receivedBy } from "../helpers/campaigns.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { resetConfig } from "../../lib/config.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
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

// 14 recipients: within X's 15 DMs per 15 minutes of one account.
test("two workers running the same campaign's batches at once send each recipient one DM", async () => {
	const gateway = await start(GATEWAY);
	const [a, b] = [await start(WORKER), await start(WORKER)];
	const { api, campaignId, ids } = await campaignOf(x, gateway, 14);
	await api.post(`/campaigns/${campaignId}/start`);
	// Both workers take batches of the same campaign side by side (and the job chain a third).
	await Promise.all([a.broker.call("campaigns.runBatch", { campaignId }), b.broker.call("campaigns.runBatch", { campaignId })]);
	await waitUntil(async () => (await campaignStatus(campaignId)) === "completed", 30_000, "the campaign to complete");
	expect(receivedBy(x, ids)).toEqual(Array(14).fill(1));
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 14 });
	expect(await MessageModel.countDocuments({ origin: `campaign:${campaignId}`, status: "sent" })).toBe(14);
});

test("a repeated batch with the same Idempotency-Keys from two nodes sends each item once", async () => {
	const gateway = await start(GATEWAY);
	const other = await start(WORKER);
	const { merchantId, contactIds, ids } = await campaignOf(x, gateway, 5);
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
	expect(receivedBy(x, ids)).toEqual(Array(5).fill(1));
	// Once both are done, a third repeat answers the first sends.
	const third = (await other.broker.call("inbox.sendBatch", params, opts)) as { results: { status: string; messageId: string }[] };
	expect(third.results.map(r => r.status)).toEqual(Array(5).fill("sent"));
	expect(receivedBy(x, ids)).toEqual(Array(5).fill(1));
});

test("X out (503) holds the account's sends instead of failing recipients, backs off while it lasts, then sends each once", async () => {
	const t0 = new Date();
	clock.now = () => t0;
	const node = await start(GATEWAY);
	const { api, campaignId, ids } = await campaignOf(x, node, 6);
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
	await waitUntil(async () => ((await deliveryStatuses(campaignId)).pending ?? 0) === 6, 10_000, "the batch to be put back");
	let c = (await CampaignModel.findById(campaignId).lean())!;
	expect(c.holds).toEqual([expect.objectContaining({ outages: 1 })]);
	const firstUntil = new Date(c.holds[0].until).getTime();
	expect(firstUntil - t0.getTime()).toBe(30_000);
	expect(receivedBy(x, ids)).toEqual(Array(6).fill(0));
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
		async () => JSON.stringify(await deliveryStatuses(campaignId)) === JSON.stringify({ pending: 6 }),
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
	expect(await campaignStatus(campaignId)).toBe("completed");
	expect(receivedBy(x, ids)).toEqual(Array(6).fill(1));
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 6 });
});
