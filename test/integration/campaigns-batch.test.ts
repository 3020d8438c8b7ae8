import type { Context } from "moleculer";
import { dropDatabase, eventRecorder, startNode, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { campaignOf, campaignStatus, deliveryStatuses, receivedBy } from "../helpers/campaigns.ts";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { resetConfig } from "../../lib/config.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignSendClaimModel } from "../../models/campaign-send-claim.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { SendLedgerModel } from "../../models/send-ledger.model.ts";
import { SEND_PARALLELISM } from "../../services/x/send-batch.ts";
import { clock } from "../../services/campaigns/clock.ts";

// Batches larger than the DMs X gets at once (CAMPAIGN_BATCH_SIZE=12, SEND_PARALLELISM at a
// time), against the X sandbox: each recipient once, a 429 in the middle of a batch, a pause while
// a batch is in flight, and figures exact as soon as a run answers (a batch's outcomes are
// written while the next batch is sent: services/campaigns/runner.ts). Each recipient's DMs are
// counted on what the sandbox received.

useFreshDatabase("campaign_batch");

const GATEWAY = ["api", "accounts", "contacts", "templates", "segments", "inbox", "x", "campaigns"];
const clockedX = { methods: { now: () => clock.now() } };
const BATCH = 12;
const savedBatch = process.env.CAMPAIGN_BATCH_SIZE;

let x: TestSandbox;
const nodes: TestNode[] = [];

beforeAll(async () => {
	process.env.CAMPAIGN_BATCH_SIZE = String(BATCH);
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

async function start(xOverride: object = clockedX, extra: object[] = []) {
	const node = await startNode({ services: GATEWAY, overrides: { x: xOverride }, extraServices: extra });
	nodes.push(node);
	return node;
}

test("a batch larger than the DMs in flight reaches each recipient once; messages, deliveries and ledger agree", async () => {
	expect(BATCH).toBeGreaterThan(SEND_PARALLELISM);
	const node = await start();
	const { api, accountId, campaignId, ids } = await campaignOf(x, node, BATCH);
	await api.post(`/campaigns/${campaignId}/start`);
	await waitUntil(async () => (await campaignStatus(campaignId)) === "completed", 30_000, "the campaign to complete");

	expect(receivedBy(x, ids)).toEqual(Array(BATCH).fill(1));
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: BATCH });
	expect((await api.get(`/campaigns/${campaignId}`)).body.data.progress).toMatchObject({ total: BATCH, sent: BATCH, pending: 0 });
	// One message per recipient, stored once with X's answer (never a pending row left behind).
	const messages = await MessageModel.find({ origin: `campaign:${campaignId}` }, { status: 1, twitterMessageId: 1 }).lean();
	expect(messages.map(m => m.status)).toEqual(Array(BATCH).fill("sent"));
	const xIds = new Set(
		x.sandbox
			.received()
			.filter(d => ids.includes(d.recipientId))
			.map(d => d.dmEventId)
	);
	expect(new Set(messages.map(m => m.twitterMessageId))).toEqual(xIds);
	// The ledger's outcomes are written after the batch answered: they land, one slot per DM.
	await waitUntil(
		async () => (await SendLedgerModel.countDocuments({ accountId, state: "sent" })) === BATCH,
		10_000,
		"the ledger's outcomes"
	);
	expect(await SendLedgerModel.countDocuments({ accountId })).toBe(BATCH);
});

test("X's 429 in the middle of a batch: the DMs already in flight count, the rest are held, then each is sent once", async () => {
	const t0 = new Date();
	clock.now = () => t0;
	const node = await start();
	const { api, campaignId, ids } = await campaignOf(x, node, BATCH);
	// The first DM X handles answers 429 while the others of the first wave are in flight.
	x.sandbox.rateLimitNext({ resetInSeconds: 60 });
	await api.post(`/campaigns/${campaignId}/start`);
	await waitUntil(
		async () => Boolean((await CampaignModel.findById(campaignId, { holds: 1 }).lean())?.holds?.length),
		10_000,
		"the account to be held"
	);
	await waitUntil(async () => !(await deliveryStatuses(campaignId)).sending, 10_000, "the batch's outcomes");
	const first = await deliveryStatuses(campaignId);
	const sent = receivedBy(x, ids).reduce((a, b) => a + b, 0);
	// At most the rest of the first wave went out; nothing twice; the others wait, claim released.
	expect(sent).toBeLessThan(SEND_PARALLELISM);
	expect(receivedBy(x, ids).every(n => n <= 1)).toBe(true);
	expect(first).toEqual(sent ? { sent, pending: BATCH - sent } : { pending: BATCH });
	expect(await CampaignSendClaimModel.countDocuments({ campaignId })).toBe(sent);

	// After X's reset the rest go, each once.
	// (X's reset is 60 s after the 429 in real time, a few seconds after t0.)
	clock.now = () => new Date(t0.getTime() + 120_000);
	// The campaign's own job chain (started at once now, not at Agenda's next poll) may be sending
	// this batch beside the call: either way it completes, with each recipient sent once.
	await node.broker.call("campaigns.runBatch", { campaignId });
	await waitUntil(
		async () => (await CampaignModel.findById(campaignId, { status: 1 }).lean())?.status === "completed",
		15_000,
		"the campaign to complete"
	);
	expect(receivedBy(x, ids)).toEqual(Array(BATCH).fill(1));
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: BATCH });
});

test("pausing while a batch is in flight: that batch finishes, figures are exact when the run ends, nothing more is taken", async () => {
	let reach!: () => void;
	let open!: () => void;
	const reached = new Promise<void>(r => (reach = r));
	const released = new Promise<void>(r => (open = r));
	let calls = 0;
	const gated = {
		...clockedX,
		hooks: {
			before: {
				sendDirectMessages: async (_ctx: Context) => {
					if (++calls !== 1) return;
					reach();
					await released;
				},
			},
		},
	};
	const progress = eventRecorder(["campaign.progress"]);
	const node = await start(gated, [progress.schema]);
	const { api, campaignId, ids } = await campaignOf(x, node, BATCH + 2);
	await api.post(`/campaigns/${campaignId}/start`);

	await reached;
	expect((await api.post(`/campaigns/${campaignId}/pause`)).body.data.status).toBe("paused");
	open();
	await waitUntil(() => progress.of("campaign.progress").some(e => e.campaignId === campaignId), 10_000, "the paused run to end");
	const event = progress.of("campaign.progress").find(e => e.campaignId === campaignId)!;
	expect(receivedBy(x, ids).reduce((a, b) => a + b, 0)).toBe(BATCH);
	expect(await deliveryStatuses(campaignId)).toEqual({ sent: BATCH, pending: 2 });
	expect(event.progress).toMatchObject({ total: BATCH + 2, sent: BATCH, pending: 2 });
	expect(await campaignStatus(campaignId)).toBe("paused");
});
