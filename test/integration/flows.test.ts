import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectAccount } from "../helpers/accounts.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { FlowRunModel } from "../../models/flow-run.model.ts";
import { AGENDA_COLLECTION } from "../../mixins/agenda.mixin.ts";
import mongoose from "mongoose";
import { clock } from "../../services/flows/clock.ts";

// Automation flows through the gateway, started by the broker events that trigger them and
// sending through the real inbox and x service to the X sandbox. Time is the flows' clock:
// a 24-hour wait is fast-forwarded by moving it and calling `flows.resumeDue`.

useFreshDatabase("flows");

const SERVICES = ["api", "accounts", "contacts", "templates", "segments", "inbox", "x", "webhooks", "flows"];
const DAY = 86_400_000;
let x: TestSandbox;
let node: TestNode;
let offsetMs = 0;

beforeAll(async () => {
	x = await startTestSandbox();
	node = await startNode({ services: SERVICES });
	x.sandbox.setWebhookUrl(`${node.url}/api/v1/mkt-x/webhooks/twitter`);
	clock.now = () => new Date(Date.now() + offsetMs);
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	clock.now = () => new Date();
	await dropDatabase();
});
afterEach(() => {
	offsetMs = 0;
});

const fastForward = async (ms: number, broker = node.broker) => {
	offsetMs += ms;
	return broker.call("flows.resumeDue", { now: clock.now().toISOString() });
};

let nextTwitterId = 8_200_000_000;

async function merchant() {
	const merchantId = `m-${randomUUID().slice(0, 8)}`;
	const api = client(node.url, tokenFor(merchantId));
	// Stored as connecting stores it, with the link row webhook deliveries find the account by.
	const { account, user } = await connectAccount(x.sandbox, merchantId);
	const template = async (name: string, content: string) => {
		const res = await api.post("/templates", { name, content });
		expect(res.status).toBe(200);
		return res.body.data.id as string;
	};
	const contact = async (fields: Record<string, unknown> = {}) => {
		const id = String(nextTwitterId++);
		return (
			await ContactModel.create({
				merchantId,
				accountId: account._id,
				twitterUserId: id,
				username: `cust_${id}`,
				displayName: `Khách ${id.slice(-3)}`,
				lastInboundAt: new Date(),
				...fields,
			})
		).toObject() as { _id: string; twitterUserId: string; username: string; displayName: string };
	};
	const flow = async (body: Record<string, unknown>) => {
		const created = await api.post("/automation/flows", body);
		expect(created.status).toBe(200);
		const activated = await api.post(`/automation/flows/${created.body.data.id}/activate`);
		expect(activated.body.data.status).toBe("active");
		return created.body.data.id as string;
	};
	const runs = async (flowId: string, query = "") => (await api.get(`/automation/flows/${flowId}/runs${query}`)).body;
	return { merchantId, api, account, user, template, contact, flow, runs };
}

const dmsTo = (twitterUserId: string) => x.sandbox.received().filter(dm => dm.recipientId === twitterUserId);
const emit = (event: string, payload: Record<string, unknown>) => node.broker.emit(event, payload);

describe("the contract's example: welcome, 24-hour wait, follow-up", () => {
	test("a new customer who writes first gets the welcome DM now and the follow-up once the wait has passed", async () => {
		const m = await merchant();
		const welcome = await m.template("welcome", "Chào {{name}}, cảm ơn bạn đã nhắn tin!");
		const followup = await m.template("followup", "{{name}} ơi, bạn cần shop hỗ trợ gì thêm không?");
		const flowId = await m.flow({
			name: "Chào Mừng Khách Hàng Mới",
			trigger: { type: "contact_created", config: {} },
			nodes: [
				{ type: "send_message", templateId: welcome, delay: 0 },
				{ type: "wait", duration: 86400 },
				{ type: "send_message", templateId: followup, delay: 0 },
			],
		});

		const customer = { id: String(nextTwitterId++), username: "lan_nguyen", name: "Lan" };
		expect((await x.sandbox.postInboundDm({ to: m.user.id, from: customer, text: "Shop ơi cho mình hỏi" })).status).toBe(200);
		await waitUntil(() => dmsTo(customer.id).length === 1, 10_000, "the welcome DM");
		expect(dmsTo(customer.id)[0].text).toBe("Chào Lan, cảm ơn bạn đã nhắn tin!");

		await waitUntil(async () => (await m.runs(flowId)).data[0]?.nextStep === "nodes[2]", 10_000, "the run waiting");
		const waiting = await m.runs(flowId);
		expect(waiting.data).toHaveLength(1);
		expect(waiting.data[0]).toMatchObject({ status: "active", nextStep: "nodes[2]", trigger: { type: "contact_created" } });
		expect(waiting.data[0].log.map((e: { node: string; outcome: string }) => `${e.node} ${e.outcome}`)).toEqual([
			"nodes[0] sent",
			"nodes[1] waiting",
		]);
		// The resume is an Agenda job in the database, due in 24 hours of wall-clock time.
		const job = await mongoose.connection
			.db!.collection(AGENDA_COLLECTION)
			.findOne({ name: "flows.resume", "data.runId": waiting.data[0].id });
		expect(job?.nextRunAt.getTime()).toBeGreaterThan(Date.now() + DAY - 60_000);

		await fastForward(DAY - 60_000);
		expect(dmsTo(customer.id)).toHaveLength(1);
		await fastForward(60_000);
		expect(dmsTo(customer.id).map(dm => dm.text)).toEqual([
			"Chào Lan, cảm ơn bạn đã nhắn tin!",
			"Lan ơi, bạn cần shop hỗ trợ gì thêm không?",
		]);

		const done = (await m.runs(flowId)).data[0];
		expect(done).toMatchObject({ status: "completed", nextStep: null, dueAt: null });
		expect(done.log.map((e: { outcome: string }) => e.outcome)).toEqual(["sent", "waiting", "sent"]);
		const flow = (await m.api.get(`/automation/flows/${flowId}`)).body.data;
		expect(flow.stats).toEqual({ entered: 1, active: 0, completed: 1, failed: 0, cancelled: 0 });
	});

	test("a contact who never wrote is skipped with the reason in the run's log, and the run goes on", async () => {
		const m = await merchant();
		const tpl = await m.template("hello", "Xin chào {{name}}");
		const flowId = await m.flow({
			name: "Skip",
			trigger: { type: "contact_created" },
			nodes: [
				{ type: "send_message", templateId: tpl },
				{ type: "add_tag", tag: "welcomed" },
			],
		});
		const c = await m.contact({ lastInboundAt: null, source: "import" });
		emit("contact.created", { merchantId: m.merchantId, accountId: m.account._id, contactId: c._id, source: "import" });
		await waitUntil(async () => (await m.runs(flowId)).data[0]?.status === "completed", 10_000, "the run completed");
		const run = (await m.runs(flowId)).data[0];
		expect(run.log.map((e: { outcome: string; detail: string }) => [e.outcome, e.detail])).toEqual([
			["skipped", "no_prior_contact"],
			["tagged", "welcomed"],
		]);
		expect(dmsTo(c.twitterUserId)).toHaveLength(0);
		expect((await ContactModel.findById(c._id).lean())?.tags).toEqual(["welcomed"]);
	});
});

describe("triggers", () => {
	test("a keyword trigger matches whole words in any case and without accents; a contact in an active run is not entered again", async () => {
		const m = await merchant();
		const tpl = await m.template("price", "Giá sản phẩm đây ạ, {{name}}");
		const flowId = await m.flow({
			name: "Hỏi giá",
			trigger: { type: "message_received", config: { keywords: ["giá", "bao nhiêu"], match: "any" } },
			nodes: [
				{ type: "send_message", templateId: tpl },
				{ type: "wait", duration: 3600 },
				{ type: "add_tag", tag: "asked-price" },
			],
		});
		const c = await m.contact();
		const message = (content: string) =>
			emit("message.received", {
				merchantId: m.merchantId,
				accountId: m.account._id,
				contactId: c._id,
				conversationId: randomUUID(),
				messageId: randomUUID(),
				content,
				at: new Date().toISOString(),
			});
		await message("gigantic sale?");
		await message("Xin chào shop");
		await message("Cái áo này GIA BAO NHIEU vậy?");
		await waitUntil(() => dmsTo(c.twitterUserId).length === 1, 10_000, "the price DM");
		await message("còn giá khác không?");
		await waitUntil(async () => (await FlowRunModel.countDocuments({ flowId })) >= 1);
		expect((await m.api.get(`/automation/flows/${flowId}`)).body.data.stats).toMatchObject({ entered: 1, active: 1 });
		expect(dmsTo(c.twitterUserId)).toHaveLength(1);

		await fastForward(3600_000);
		expect((await ContactModel.findById(c._id).lean())?.tags).toEqual(["asked-price"]);
		// Once the run is over the contact may enter again.
		await message("giá?");
		await waitUntil(() => dmsTo(c.twitterUserId).length === 2, 10_000, "the second price DM");
		expect((await m.api.get(`/automation/flows/${flowId}`)).body.data.stats).toMatchObject({ entered: 2, active: 1, completed: 1 });
	});

	test("the same trigger event delivered twice starts one run", async () => {
		const m = await merchant();
		const tpl = await m.template("once", "Một lần thôi {{name}}");
		const flowId = await m.flow({
			name: "Once",
			allowReentry: true,
			trigger: { type: "message_received", config: {} },
			nodes: [{ type: "send_message", templateId: tpl }],
		});
		const c = await m.contact();
		const event = {
			merchantId: m.merchantId,
			accountId: m.account._id,
			contactId: c._id,
			conversationId: randomUUID(),
			messageId: randomUUID(),
			content: "hi",
			at: new Date().toISOString(),
		};
		await Promise.all([emit("message.received", event), emit("message.received", event)]);
		await waitUntil(async () => (await m.runs(flowId)).data[0]?.status === "completed", 10_000, "the run completed");
		await emit("message.received", event);
		await waitUntil(() => dmsTo(c.twitterUserId).length >= 1);
		expect((await m.api.get(`/automation/flows/${flowId}`)).body.data.stats).toEqual({
			entered: 1,
			active: 0,
			completed: 1,
			failed: 0,
			cancelled: 0,
		});
		expect(dmsTo(c.twitterUserId)).toHaveLength(1);
	});
});

describe("engine", () => {
	test("a condition on the contact takes the then branch for a VIP and the else branch for the others", async () => {
		const m = await merchant();
		const flowId = await m.flow({
			name: "VIP",
			trigger: { type: "tag_added", config: { tag: "customer" } },
			nodes: [
				{
					type: "condition",
					id: "is-vip",
					conditions: [{ field: "attributes.tier", operator: "eq", value: "vip" }],
					then: [
						{ type: "add_tag", tag: "vip-welcome" },
						{ type: "set_attribute", key: "welcomed", value: true },
					],
					else: [{ type: "add_tag", tag: "regular" }],
				},
				{ type: "add_tag", tag: "done" },
			],
		});
		const vip = await m.contact({ attributes: { tier: "vip" } });
		const regular = await m.contact({ attributes: { tier: "silver" } });
		for (const c of [vip, regular]) await m.api.post(`/contacts/${c._id}/tags`, { tags: ["customer"] });
		await waitUntil(async () => (await m.runs(flowId, "?status=completed")).data.length === 2, 10_000, "both runs completed");
		expect(await ContactModel.findById(vip._id).lean()).toMatchObject({
			tags: ["customer", "vip-welcome", "done"],
			attributes: { tier: "vip", welcomed: true },
		});
		expect((await ContactModel.findById(regular._id).lean())?.tags).toEqual(["customer", "regular", "done"]);
		const runs = (await m.runs(flowId)).data;
		const vipRun = runs.find((r: { contactId: string }) => r.contactId === vip._id);
		expect(vipRun.log.map((e: { node: string; nodeId: string | null; outcome: string }) => [e.node, e.nodeId, e.outcome])).toEqual([
			["nodes[0]", "is-vip", "then"],
			["nodes[0].then[0]", null, "tagged"],
			["nodes[0].then[1]", null, "attribute_set"],
			["nodes[1]", null, "tagged"],
		]);
	});

	test("deactivating a flow cancels a waiting run at its next step, and reactivating does not revive it", async () => {
		const m = await merchant();
		const flowId = await m.flow({
			name: "Stop",
			trigger: { type: "contact_created" },
			nodes: [
				{ type: "wait", duration: 7200 },
				{ type: "add_tag", tag: "late" },
			],
		});
		const c = await m.contact();
		await emit("contact.created", { merchantId: m.merchantId, accountId: m.account._id, contactId: c._id, source: "manual" });
		await waitUntil(async () => (await m.runs(flowId)).data[0]?.nextStep === "nodes[1]", 10_000, "the run waiting");

		const put = await m.api.put(`/automation/flows/${flowId}`, { name: "Đổi tên" });
		expect(put.status).toBe(409);
		expect(put.body.errorCode).toBe("FLOW_ACTIVE");
		expect((await m.api.del(`/automation/flows/${flowId}`)).status).toBe(409);

		expect((await m.api.post(`/automation/flows/${flowId}/deactivate`)).body.data.status).toBe("inactive");
		expect((await m.api.post(`/automation/flows/${flowId}/activate`)).body.data.status).toBe("active");
		await fastForward(7200_000);
		const run = (await m.runs(flowId)).data[0];
		expect(run).toMatchObject({ status: "cancelled", nextStep: null });
		expect(run.log.at(-1)).toMatchObject({ outcome: "cancelled", detail: "the flow was deactivated" });
		expect((await ContactModel.findById(c._id).lean())?.tags).toEqual([]);
		await fastForward(7200_000);
		expect((await m.api.get(`/automation/flows/${flowId}`)).body.data.stats).toEqual({
			entered: 1,
			active: 0,
			completed: 0,
			failed: 0,
			cancelled: 1,
		});

		await m.api.post(`/automation/flows/${flowId}/deactivate`);
		expect((await m.api.put(`/automation/flows/${flowId}`, { name: "Đổi tên" })).body.data.name).toBe("Đổi tên");
		expect((await m.api.del(`/automation/flows/${flowId}`)).body.data).toEqual({ id: flowId, deleted: true });
		expect((await m.api.get(`/automation/flows/${flowId}`)).status).toBe(404);
	});

	test("a worker stopped during a wait leaves the run in the database, and another node resumes it", async () => {
		const m = await merchant();
		const tpl = await m.template("again", "Quay lại nhé {{name}}");
		const flowId = await m.flow({
			name: "Durable",
			trigger: { type: "contact_created" },
			nodes: [
				{ type: "add_tag", tag: "first" },
				{ type: "wait", duration: 600 },
				{ type: "send_message", templateId: tpl },
			],
		});
		const c = await m.contact();
		const worker = await startNode({ services: ["contacts", "inbox", "x", "templates", "flows"] });
		await worker.broker.emit("contact.created", { merchantId: m.merchantId, accountId: m.account._id, contactId: c._id, source: "manual" });
		await waitUntil(async () => (await FlowRunModel.findOne({ flowId }).lean())?.position === "2", 10_000, "the run waiting");
		await worker.stop();

		const other = await startNode({ services: ["contacts", "inbox", "x", "templates", "flows"] });
		try {
			await fastForward(600_000, other.broker);
			expect(dmsTo(c.twitterUserId).map(dm => dm.text)).toEqual([`Quay lại nhé ${c.displayName}`]);
			expect((await FlowRunModel.findOne({ flowId }).lean())?.status).toBe("completed");
		} finally {
			await other.stop();
		}
	});
});

describe("validation", () => {
	test("every problem of a definition is one 422 naming the node: unknown types, another merchant's template, bad durations, deep nesting", async () => {
		const m = await merchant();
		const other = await merchant();
		const theirs = await other.template("theirs", "Hi");
		const nested = (depth: number): Record<string, unknown> =>
			depth === 0 ? { type: "add_tag", tag: "deep" } : { type: "condition", conditions: [], then: [nested(depth - 1)] };
		const res = await m.api.post("/automation/flows", {
			name: "Bad",
			trigger: { type: "message_received", config: { keywords: ["giá"], match: "most" } },
			nodes: [
				{ type: "send_message", templateId: theirs },
				{ type: "send_message", templateId: randomUUID() },
				{ type: "teleport" },
				{
					type: "condition",
					conditions: [{ field: "tags", operator: "contains", value: "vip" }],
					then: [{ type: "wait", duration: 91 * 86400 }],
					else: [{ type: "wait", duration: -5 }],
				},
				{ type: "add_tag", tag: "x", delay: -1 },
				nested(6),
			],
		});
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.details.map((d: { field: string }) => d.field)).toEqual([
			"trigger.config.match",
			"nodes[0].templateId",
			"nodes[1].templateId",
			"nodes[2].type",
			"nodes[3].then[0].duration",
			"nodes[3].else[0].duration",
			"nodes[4].delay",
			"nodes[5].then[0].then[0].then[0].then[0].then[0].then",
		]);

		const unknownTrigger = await m.api.post("/automation/flows", {
			name: "T",
			trigger: { type: "birthday" },
			nodes: [{ type: "wait", duration: 1 }],
		});
		expect(unknownTrigger.body.details).toEqual([
			{ field: "trigger.type", message: expect.stringMatching(/^must be one of: contact_created/) },
		]);
		const tooMany = await m.api.post("/automation/flows", {
			name: "T",
			trigger: { type: "contact_created" },
			nodes: Array.from({ length: 101 }, () => ({ type: "wait", duration: 1 })),
		});
		expect(tooMany.body.details).toEqual([{ field: "nodes", message: expect.stringMatching(/at most 100 nodes/) }]);
	});

	test("activation checks the templates again: one deleted since the flow was saved is a 422", async () => {
		const m = await merchant();
		const tpl = await m.template("gone", "Bye {{name}}");
		const created = await m.api.post("/automation/flows", {
			name: "Later",
			trigger: { type: "contact_created" },
			nodes: [
				{ type: "wait", duration: 60 },
				{ type: "send_message", templateId: tpl },
			],
		});
		expect((await m.api.del(`/templates/${tpl}`)).status).toBe(200);
		const res = await m.api.post(`/automation/flows/${created.body.data.id}/activate`);
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "nodes[1].templateId", message: "must be one of your templates" }]);
		expect((await m.api.get("/automation/flows?status=inactive")).body).toMatchObject({
			data: [{ id: created.body.data.id, status: "inactive" }],
			pagination: { total: 1 },
		});
		expect((await client(node.url, tokenFor("someone-else")).get(`/automation/flows/${created.body.data.id}`)).status).toBe(404);
	});
});
