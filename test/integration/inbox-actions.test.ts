import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DbProxy } from "../helpers/db-proxy.ts";
import { config } from "../../lib/config.ts";
import { freePort } from "../../lib/net.ts";
import { startFerretDb, type RunningFerretDb } from "../../lib/ferretdb.ts";
import { dropPgDatabase, withDatabase } from "../../lib/ferretdb-pg.ts";
import {
	client,
	dropDatabase,
	eventRecorder,
	startNode,
	tokenFor,
	useFreshDatabase,
	waitUntil,
	type ApiResponse,
	type TestNode,
} from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { PartitionLeaseModel } from "../../models/partition-lease.model.ts";

// Agents' closes and assignments, and the bot's escalation, are applied by the account's one
// writer in order with the messages (docs/ingest.md). On FerretDB an update is a read-modify-write
// of the whole document: written beside a writer's batch, a close could be undone, an assignment
// or a figure lost. On the run's engine; when that is FerretDB on PostgreSQL, on a FerretDB of this
// file's own whose PostgreSQL answers 1 ms away (as across a network, not on this host), which
// widens each update's read-to-write window enough for races to show in a few hundred actions.

useFreshDatabase("inbox_actions");
process.env.INBOX_ACTION_WAIT_MS = "4000";

const onPostgres = process.env.TEST_FERRETDB_HANDLER === "postgresql";
const pgUrl = withDatabase(config().ferretdb.postgresqlUrl, `mktx_actions_${process.pid}_${randomBytes(3).toString("hex")}`);
let pgProxy: DbProxy | undefined;
let ferret: RunningFerretDb | undefined;

const events = eventRecorder(["conversation.closed", "conversation.assigned", "conversation.escalated"]);
let node: TestNode;
beforeAll(async () => {
	if (onPostgres) {
		pgProxy = await DbProxy.start(pgUrl);
		pgProxy.delay(1);
		const proxied = new URL(pgUrl);
		proxied.port = String(pgProxy.port);
		const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-actions-db-"));
		ferret = await startFerretDb({
			port: await freePort(),
			dataDir,
			postgresqlUrl: proxied.toString(),
			handler: "postgresql",
			log: () => {},
		});
		process.env.MONGO_URL = `${ferret.url}inbox_actions`;
	}
	node = await startNode({
		services: ["api", "inbox", "contacts"],
		overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } },
		extraServices: [events.schema],
	});
});
afterAll(async () => {
	await node?.stop();
	delete process.env.INBOX_ACTION_WAIT_MS;
	await dropDatabase();
	await ferret?.stop();
	await pgProxy?.close();
	if (ferret) await dropPgDatabase(pgUrl).catch(() => {});
});

let seq = 0;
/** Queues customers' DMs for the account's writer, as the webhooks service does with X's deliveries. */
async function customersWrite(merchantId: string, accountId: string, dms: { customerId: string; text: string }[]) {
	await node.broker.call(
		"inbox.enqueue",
		{
			accountId,
			dms: dms.map(d => ({
				eventId: `${Date.now()}${++seq}`,
				createdAt: new Date().toISOString(),
				senderId: d.customerId,
				recipientId: "account",
				text: d.text,
				mediaUrl: null,
				customerId: d.customerId,
				outbound: false,
				profile: null,
			})),
			reads: [],
		},
		{ meta: { merchantId } }
	);
}

const drained = (accountId: string) =>
	waitUntil(async () => (await InboxActivityModel.countDocuments({ status: "pending", accountId })) === 0, 60_000, "queue drained");

async function conversationsOf(merchantId: string, customerId: string): Promise<Conversation[]> {
	const contact = await ContactModel.findOne({ merchantId, twitterUserId: customerId }).lean();
	return ConversationModel.find({ merchantId, contactId: contact!._id }).lean<Conversation[]>();
}

/**
 * Holds the account's writer lease for the next slots, as another node would: nothing is applied
 * until `free()`. Waits for this node's writer to let the account go first (it keeps it a moment).
 */
async function holdWriter(accountId: string) {
	let ids: string[] = [];
	await waitUntil(
		async () => {
			const slot = Math.floor(Date.now() / 10_000);
			ids = [0, 1, 2, 3].map(i => `inbox:${accountId}:${slot + i}`);
			const rows = ids.map((_id, i) => ({
				_id,
				queue: "inbox",
				partition: accountId,
				slot: slot + i,
				owner: "elsewhere",
				expiresAt: new Date((slot + i + 1) * 10_000),
			}));
			const ok = await PartitionLeaseModel.insertMany(rows, { ordered: true }).then(
				() => true,
				() => false
			);
			if (!ok) await PartitionLeaseModel.deleteMany({ _id: { $in: ids }, owner: "elsewhere" });
			return ok;
		},
		15_000,
		"the account's lease"
	);
	return {
		// Let go, and wake the writers as new work does (they would otherwise look again within a second).
		free: async () => {
			await PartitionLeaseModel.deleteMany({ _id: { $in: ids } });
			await node.broker.broadcast("inbox.activity.queued", { accountIds: [accountId] });
		},
	};
}

test("assignments and closes racing bursts of inbound messages on the same conversations: every one kept, every figure exact", async () => {
	const merchantId = "m-race";
	const accountId = randomUUID();
	const PAIRS = 24;
	const BURST = 8;
	const customers = Array.from({ length: PAIRS }, (_, i) => String(55_000_000 + i));
	await customersWrite(
		merchantId,
		accountId,
		customers.map(customerId => ({ customerId, text: "hello" }))
	);
	await drained(accountId);
	const first = new Map(await Promise.all(customers.map(async c => [c, (await conversationsOf(merchantId, c))[0]] as const)));
	const api = client(node.url, tokenFor(merchantId, { userId: "agent-0" }));

	// Each customer writes a burst; while the writer applies them, agents assign their conversation
	// again and again (the last one must stick), and every other conversation is closed.
	let writing = true;
	const watcher = (async () => {
		await new Promise(r => setTimeout(r, 1000));
		// Until every message is stored (the actions' own rows do not count: they would keep it going).
		while ((await MessageModel.countDocuments({ merchantId })) < PAIRS * (1 + BURST)) await new Promise(r => setTimeout(r, 100));
		writing = false;
	})();
	const outcomes = await Promise.all(
		customers.map(async (customerId, i) => {
			const id = first.get(customerId)!._id;
			const burst = (async () => {
				for (let k = 0; k < BURST; k++) await customersWrite(merchantId, accountId, [{ customerId, text: `more ${k}` }]);
			})();
			const answers: ApiResponse[] = [];
			let lastAssignee = "";
			// While the writer applies the bursts.
			for (let k = 0; k < 12 && (k < 2 || writing); k++) {
				lastAssignee = `agent-${i}-${k}`;
				// Two agents pick the same assignee at once: twice the writes beside the writer's.
				answers.push(...(await Promise.all([0, 1].map(() => api.post(`/conversations/${id}/assign`, { userId: lastAssignee })))));
			}
			await burst;
			if (i % 2 === 0) answers.push(await api.put(`/conversations/${id}/close`, { reason: "done" }));
			return { customerId, id, answers, lastAssignee };
		})
	);
	await watcher;
	// Under the burst an action waits behind the messages queued before it: past INBOX_ACTION_WAIT_MS
	// the answer is 504 OUTCOME_UNKNOWN (the contract's), and the action is applied all the same.
	const answers = outcomes.flatMap(o => o.answers);
	expect(answers.filter(a => a.status !== 200 && a.body.errorCode !== "OUTCOME_UNKNOWN").map(a => a.body)).toEqual([]);
	await drained(accountId);

	const lost: string[] = [];
	for (const [i, { customerId, id, lastAssignee }] of outcomes.entries()) {
		const all = await conversationsOf(merchantId, customerId);
		const kept = all.find(c => c._id === id)!;
		// Every message counted once, in the closed conversation or in the one the next message opened.
		const counted = all.reduce((sum, c) => sum + (c.messageCount ?? 0), 0);
		if (counted !== 1 + BURST) lost.push(`${1 + BURST - counted} messages of ${id} uncounted`);
		if (kept.assignedToUserId !== lastAssignee) lost.push(`assignment of ${id} (${kept.assignedToUserId} instead of ${lastAssignee})`);
		if (i % 2 === 0 && (kept.status !== "closed" || kept.openKey !== `closed:${id}` || kept.closeReason !== "done"))
			lost.push(`close of ${id}`);
		expect(all.filter(c => c.status === "open").length).toBeLessThanOrEqual(1);
	}
	const report = (await node.broker.call("inbox.reconcile", { merchantId }, { timeout: 120_000 })) as { drift: unknown[] };
	console.log(
		`${answers.length} actions racing ${PAIRS * BURST} messages: ${answers.filter(a => a.status === 504).length} answered 504 OUTCOME_UNKNOWN; ` +
			`${lost.length} lost, ${report.drift.length} drifted figures`
	);
	expect({ lost, drift: report.drift }).toEqual({ lost: [], drift: [] });
	expect(events.of("conversation.closed").filter(e => e.merchantId === merchantId)).toHaveLength(PAIRS / 2);
}, 300_000);

describe("PUT /conversations/:id/close through the writer", () => {
	test("in arrival order: a message before the close counts in the closed conversation, one after opens a new one", async () => {
		const merchantId = "m-order";
		const accountId = randomUUID();
		await customersWrite(merchantId, accountId, [{ customerId: "801", text: "first" }]);
		await drained(accountId);
		const [conversation] = await conversationsOf(merchantId, "801");
		const writer = await holdWriter(accountId);
		await customersWrite(merchantId, accountId, [{ customerId: "801", text: "before" }]);
		const closing = client(node.url, tokenFor(merchantId, { userId: "agent-7" })).put(`/conversations/${conversation._id}/close`, {
			reason: "solved",
		});
		await waitUntil(async () => (await InboxActivityModel.countDocuments({ status: "pending", accountId })) === 2, 5000, "close queued");
		await customersWrite(merchantId, accountId, [{ customerId: "801", text: "after" }]);
		await writer.free();
		const res = await closing;
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({ id: conversation._id, status: "closed", closeReason: "solved", messageCount: 2 });
		await drained(accountId);
		const after = (await conversationsOf(merchantId, "801")).find(c => c._id !== conversation._id)!;
		expect(after).toMatchObject({ status: "open", messageCount: 1 });
		expect((await MessageModel.find({ conversationId: conversation._id }, { content: 1 }).lean()).map(m => m.content).sort()).toEqual([
			"before",
			"first",
		]);
		expect(events.of("conversation.closed").filter(e => e.conversationId === conversation._id)).toEqual([
			{
				merchantId,
				accountId,
				contactId: conversation.contactId,
				conversationId: conversation._id,
				reason: "solved",
				closedByUserId: "agent-7",
			},
		]);
	});

	test("not applied within INBOX_ACTION_WAIT_MS: 504 OUTCOME_UNKNOWN, and the close is applied once the writer can", async () => {
		const merchantId = "m-late";
		const accountId = randomUUID();
		await customersWrite(merchantId, accountId, [{ customerId: "802", text: "hi" }]);
		await drained(accountId);
		const [conversation] = await conversationsOf(merchantId, "802");
		const writer = await holdWriter(accountId);
		const res = await client(node.url, tokenFor(merchantId)).put(`/conversations/${conversation._id}/close`, {});
		expect(res.status).toBe(504);
		expect(res.body).toMatchObject({ success: false, errorCode: "OUTCOME_UNKNOWN" });
		expect((await ConversationModel.findById(conversation._id).lean())!.status).toBe("open");
		await writer.free();
		await waitUntil(async () => (await ConversationModel.findById(conversation._id).lean())!.status === "closed", 10_000, "closed later");
		await waitUntil(() => events.of("conversation.closed").some(e => e.conversationId === conversation._id), 5000, "event");
	});

	test("the same request twice while queued is applied once; escalate answers whether it changed the conversation", async () => {
		const merchantId = "m-repeat";
		const accountId = randomUUID();
		await customersWrite(merchantId, accountId, [{ customerId: "803", text: "hi" }]);
		await drained(accountId);
		const [conversation] = await conversationsOf(merchantId, "803");
		const writer = await holdWriter(accountId);
		const opts = { meta: { merchantId, userId: "agent-1" }, requestID: `req-${randomUUID()}` };
		const twice = Promise.all([
			node.broker.call("inbox.assign", { id: conversation._id, userId: "agent-3" }, opts),
			node.broker.call("inbox.assign", { id: conversation._id, userId: "agent-3" }, opts),
		]);
		await waitUntil(async () => (await InboxActivityModel.countDocuments({ status: "pending", accountId })) === 1, 5000, "assign queued");
		await writer.free();
		expect((await twice).map(c => (c as { assignedToUserId: string }).assignedToUserId)).toEqual(["agent-3", "agent-3"]);
		expect(events.of("conversation.assigned").filter(e => e.conversationId === conversation._id)).toHaveLength(1);

		const escalate = () =>
			node.broker.call("inbox.escalate", { conversationId: conversation._id, reason: "asked for a person" }, { meta: { merchantId } });
		expect(await escalate()).toEqual({ escalated: true });
		expect(await escalate()).toEqual({ escalated: false });
		expect(await ConversationModel.findById(conversation._id).lean()).toMatchObject({ needsHuman: true, assignedToUserId: "agent-3" });
		expect(events.of("conversation.escalated").filter(e => e.conversationId === conversation._id)).toEqual([
			{ merchantId, conversationId: conversation._id, reason: "asked for a person" },
		]);
		// Another merchant's conversation is not escalated (nor queued).
		expect(
			await node.broker.call("inbox.escalate", { conversationId: conversation._id, reason: "x" }, { meta: { merchantId: "m-other" } })
		).toEqual({
			escalated: false,
		});
	});
});
