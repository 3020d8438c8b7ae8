import type { Context } from "moleculer";
import { dropDatabase, eventRecorder, startNode, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { campaignOf, campaignStatus, deliveryStatuses } from "../helpers/campaigns.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { resetConfig } from "../../lib/config.ts";
import { XDeliveryUnknownError } from "../../lib/x/errors.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../../models/campaign-delivery.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";
import { clock } from "../../services/campaigns/clock.ts";

// Delivery under stress, against the X sandbox: pause and resume, a worker node stopping or
// dying in the middle of a batch while another finishes, X's 429, and a campaign larger than a
// day's quota spilling over to the next day until schedule.endAt. Time is the campaigns' clock
// (and the x service's, which counts the send limits), set by the test; nothing sleeps.
// Each recipient's DMs are counted on what the sandbox received: never two.

useFreshDatabase("campaign_delivery");

const GATEWAY = ["api", "accounts", "contacts", "templates", "segments", "inbox", "x", "campaigns"];
const WORKER = ["inbox", "x", "campaigns"];
const DAY = 24 * 3600_000;

let x: TestSandbox;
const nodes: TestNode[] = [];

// A batch of one recipient: a gate on the n-th batch is a gate on the n-th DM, and "the batch in
// flight" when a node pauses or stops is one DM (batches of many: campaigns-outage.test.ts).
const savedBatch = process.env.CAMPAIGN_BATCH_SIZE;

beforeAll(async () => {
	process.env.CAMPAIGN_BATCH_SIZE = "1";
	resetConfig();
	x = await startTestSandbox();
	// The test holds the database connection itself: nodes come and go under it.
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

/** The x service reads the campaigns' clock, so the send limits move with it. */
const clockedX = { methods: { now: () => clock.now() } };

/** Holds the n-th batch of a node's x service (one DM each here), before X gets it or after X accepted it, until released. */
function gate(n: number, where: "before" | "after") {
	let calls = 0;
	let reach!: () => void;
	let open!: (err?: Error) => void;
	const reached = new Promise<void>(r => (reach = r));
	const released = new Promise<Error | undefined>(r => (open = r));
	const hold = async () => {
		if (++calls !== n) return;
		reach();
		const err = await released;
		if (err) throw err;
	};
	const hooks =
		where === "before"
			? { before: { sendDirectMessages: (_ctx: Context) => hold() } }
			: { after: { sendDirectMessages: async (_ctx: Context, res: unknown) => (await hold(), res) } };
	return { reached, release: (err?: Error) => open(err), override: { ...clockedX, hooks } };
}

async function start(services: string[], xOverride: object = clockedX, extra: object[] = []) {
	const node = await startNode({ services, overrides: { x: xOverride }, extraServices: extra });
	nodes.push(node);
	return node;
}

/** DMs the sandbox received per recipient. */
function received(ids: string[]): Map<string, number> {
	const counts = new Map(ids.map(id => [id, 0]));
	for (const dm of x.sandbox.received()) if (counts.has(dm.recipientId)) counts.set(dm.recipientId, counts.get(dm.recipientId)! + 1);
	return counts;
}
const sentCount = (ids: string[]) => [...received(ids).values()].reduce((a, b) => a + b, 0);
/** The campaign's job waits for a send limit: an account is held and the next step is due later than `t0`. */
const waitingAfter = (campaignId: string, t0: Date) =>
	waitUntil(
		async () => {
			const c = await CampaignModel.findById(campaignId, { holds: 1, nextRunAt: 1 }).lean();
			return Boolean(c?.holds?.length) && new Date(c?.nextRunAt ?? 0) > t0;
		},
		10_000,
		"the campaign to wait for a send limit"
	);
const completed = (campaignId: string) =>
	waitUntil(async () => (await campaignStatus(campaignId)) === "completed", 30_000, "the campaign to complete");

test("pausing stops taking recipients after the send in flight, and resuming sends the rest, each once", async () => {
	const g = gate(3, "before");
	const progress = eventRecorder(["campaign.progress"]);
	const node = await start(GATEWAY, g.override, [progress.schema]);
	const { api, campaignId, ids } = await campaignOf(x, node, 6);
	await api.post(`/campaigns/${campaignId}/start`);

	await g.reached;
	expect((await api.post(`/campaigns/${campaignId}/pause`)).body.data.status).toBe("paused");
	g.release();
	// The job's run ends on its own once it sees the pause (its last act is a progress event).
	await waitUntil(() => progress.of("campaign.progress").some(e => e.campaignId === campaignId), 10_000, "the paused run to end");
	expect(sentCount(ids)).toBe(3);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 3, pending: 3 });
	const detail = (await api.get(`/campaigns/${campaignId}`)).body.data;
	expect(detail).toMatchObject({ status: "paused", progress: { total: 6, sent: 3, pending: 3 } });
	expect((await api.post(`/campaigns/${campaignId}/pause`)).status).toBe(409);

	expect((await api.post(`/campaigns/${campaignId}/resume`)).body.data.status).toBe("running");
	await completed(campaignId);
	expect([...received(ids).values()]).toEqual([1, 1, 1, 1, 1, 1]);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 6 });
});

test("cancelling mid-way leaves every unsent recipient cancelled and sends nothing more", async () => {
	const g = gate(2, "before");
	const node = await start(GATEWAY, g.override);
	const { api, campaignId, ids } = await campaignOf(x, node, 5);
	await api.post(`/campaigns/${campaignId}/start`);
	await g.reached;
	expect((await api.post(`/campaigns/${campaignId}/cancel`)).body.data.status).toBe("cancelled");
	g.release();
	// The send in flight finishes as X answers it; nothing after it goes.
	await waitUntil(
		async () => (await CampaignDeliveryModel.countDocuments({ campaignId, status: { $in: ["pending", "sending"] } })) === 0,
		10_000,
		"the send in flight to finish"
	);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 2, cancelled: 3 });
	expect(sentCount(ids)).toBe(2);
	expect((await api.get(`/campaigns/${campaignId}/metrics`)).body.data).toMatchObject({
		status: "cancelled",
		totalSent: 2,
		cancelled: 3,
		pending: 0,
	});
	expect((await api.post(`/campaigns/${campaignId}/resume`)).body).toMatchObject({
		errorCode: "INVALID_CAMPAIGN_STATUS",
		details: { status: "cancelled" },
	});
});

test("a worker node stopped in the middle of a batch finishes its send in flight, and another node finishes the campaign", async () => {
	const g = gate(3, "before");
	const a = await start(GATEWAY, g.override);
	const { api, campaignId, ids } = await campaignOf(x, a, 7);
	await api.post(`/campaigns/${campaignId}/start`);
	await g.reached;

	nodes.splice(nodes.indexOf(a), 1);
	const stopping = a.stop();
	await waitUntil(() => Boolean((a.broker as unknown as { stopping?: boolean }).stopping), 5000, "node A to begin stopping");
	g.release();
	await stopping;
	expect(sentCount(ids)).toBe(3);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 3, pending: 4 });

	// Node B only runs workers; it takes the step node A handed over and finishes.
	await start(WORKER);
	await completed(campaignId);
	expect([...received(ids).values()]).toEqual([1, 1, 1, 1, 1, 1, 1]);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 7 });
});

test("a worker that dies after X took a DM leaves it unknown, never sent twice; another node sends the rest", async () => {
	const g = gate(3, "after");
	const a = await start(GATEWAY, g.override);
	const { api, campaignId, ids } = await campaignOf(x, a, 6);
	await api.post(`/campaigns/${campaignId}/start`);
	// Node A's third DM is at X, and node A never records it: as good as dead from here on.
	await g.reached;

	const b = await start(WORKER);
	const run = (await b.broker.call("campaigns.runBatch", { campaignId })) as { state: string };
	expect(run.state).toBe("waiting");
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 5, sending: 1 });
	// Later than CAMPAIGN_UNKNOWN_AFTER_SECONDS, the sweeper settles the lost send.
	clock.now = () => new Date(Date.now() + 6 * 60_000);
	const swept = (await b.broker.call("campaigns.sweep", {})) as { unknown: number; completed: number };
	expect(swept).toMatchObject({ unknown: 1, completed: 1 });

	expect([...received(ids).values()]).toEqual([1, 1, 1, 1, 1, 1]);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: 5, unknown: 1 });
	const metrics = (await api.get(`/campaigns/${campaignId}/metrics`)).body.data;
	expect(metrics).toMatchObject({ status: "completed", totalSent: 5, delivered: 5, unknown: 1, pending: 0 });
	// Node A "comes back" with an unknown outcome: nothing changes and nothing is sent again.
	g.release(new XDeliveryUnknownError("connection lost"));
	await waitUntil(
		async () => (await CampaignDeliveryModel.countDocuments({ campaignId, status: "sending" })) === 0,
		5000,
		"node A's send to settle"
	);
	expect(sentCount(ids)).toBe(6);
});

test("X's 429 sends nothing and holds the account until X's reset; then every recipient gets the message once", async () => {
	const t0 = new Date();
	clock.now = () => t0;
	const node = await start(GATEWAY);
	const { api, campaignId, ids } = await campaignOf(x, node, 3);
	x.sandbox.rateLimitNext({ resetInSeconds: 120 });
	await api.post(`/campaigns/${campaignId}/start`);

	await waitingAfter(campaignId, t0);
	const held = (await CampaignModel.findById(campaignId).lean())!;
	const until = new Date(held.holds[0].until).getTime();
	expect(until - t0.getTime()).toBeGreaterThanOrEqual(119_000);
	expect(new Date(held.nextRunAt!).getTime()).toBe(until);
	expect(sentCount(ids)).toBe(0);
	expect(await deliveryStatuses(campaignId)).toEqual({ pending: 3 });
	expect(await CampaignSendClaimModel.countDocuments({ campaignId })).toBe(0);

	clock.now = () => new Date(until + 1000);
	expect(((await node.broker.call("campaigns.runBatch", { campaignId })) as { state: string }).state).toBe("done");
	expect(await campaignStatus(campaignId)).toBe("completed");
	expect([...received(ids).values()]).toEqual([1, 1, 1]);
});

describe("more recipients than a day's quota (SEND_LIMIT_ACCOUNT_PER_DAY=3)", () => {
	const saved = process.env.SEND_LIMIT_ACCOUNT_PER_DAY;
	beforeAll(() => {
		process.env.SEND_LIMIT_ACCOUNT_PER_DAY = "3";
		resetConfig();
	});
	afterAll(() => {
		if (saved === undefined) delete process.env.SEND_LIMIT_ACCOUNT_PER_DAY;
		else process.env.SEND_LIMIT_ACCOUNT_PER_DAY = saved;
		resetConfig();
	});

	test("the campaign sends its day's quota, waits for it to free up, and finishes by itself the next day", async () => {
		const t0 = new Date();
		clock.now = () => t0;
		const node = await start(GATEWAY);
		const { api, campaignId, ids } = await campaignOf(x, node, 5, { endAt: new Date(t0.getTime() + 3 * DAY).toISOString() });
		await api.post(`/campaigns/${campaignId}/start`);

		await waitingAfter(campaignId, t0);
		expect(sentCount(ids)).toBe(3);
		expect(await deliveryStatuses(campaignId)).toEqual({ sent: 3, pending: 2 });
		// The next step waits exactly until the first of today's sends leaves the 24-hour window.
		expect(new Date((await CampaignModel.findById(campaignId).lean())!.nextRunAt!).getTime()).toBe(t0.getTime() + DAY);
		expect((await api.get(`/campaigns/${campaignId}`)).body.data).toMatchObject({ status: "running", progress: { sent: 3, pending: 2 } });

		clock.now = () => new Date(t0.getTime() + DAY + 1000);
		await node.broker.call("campaigns.runBatch", { campaignId });
		expect(await campaignStatus(campaignId)).toBe("completed");
		expect([...received(ids).values()]).toEqual([1, 1, 1, 1, 1]);
	});

	test("what is still unsent at schedule.endAt ends expired", async () => {
		const t0 = new Date();
		clock.now = () => t0;
		const node = await start(GATEWAY);
		const endAt = new Date(t0.getTime() + 12 * 3600_000);
		const { api, campaignId, ids } = await campaignOf(x, node, 5, { endAt: endAt.toISOString() });
		await api.post(`/campaigns/${campaignId}/start`);

		await waitingAfter(campaignId, t0);
		// The quota frees up only after endAt: the next step is at endAt.
		expect(new Date((await CampaignModel.findById(campaignId).lean())!.nextRunAt!).getTime()).toBe(endAt.getTime());

		clock.now = () => new Date(endAt.getTime() + 1000);
		await node.broker.call("campaigns.runBatch", { campaignId });
		expect(await campaignStatus(campaignId)).toBe("completed");
		expect(await deliveryStatuses(campaignId)).toEqual({ sent: 3, expired: 2 });
		expect(sentCount(ids)).toBe(3);
		expect((await api.get(`/campaigns/${campaignId}/metrics`)).body.data).toMatchObject({
			totalSent: 3,
			delivered: 3,
			expired: 2,
			deliveryRate: 100,
		});
	});
});
