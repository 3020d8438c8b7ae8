import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel, deliveryId } from "../../models/campaign-delivery.model.ts";

// Flows that act on conversations (assign, close) and the triggers other services feed
// (`conversation.closed` from the inbox, `campaign.replied` from the campaigns service), through
// the real services on FerretDB. No message is sent, so no X sandbox is needed.

useFreshDatabase("flows_assign");

let node: TestNode;
beforeAll(async () => {
	node = await startNode({
		services: ["api", "contacts", "templates", "inbox", "flows", "campaigns"],
		overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } },
	});
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

async function merchant() {
	const merchantId = `m-${randomUUID().slice(0, 8)}`;
	const accountId = randomUUID();
	const api = client(node.url, tokenFor(merchantId, { userId: "owner" }));
	let next = 0;
	/** A contact with an open conversation. */
	const customer = async (tags: string[] = []) => {
		const contact = await ContactModel.create({
			merchantId,
			accountId,
			twitterUserId: `${Date.now()}${next++}`,
			tags,
			lastInboundAt: new Date(),
		});
		const conversation = await ConversationModel.create({
			merchantId,
			accountId,
			contactId: contact._id,
			status: "open",
			openKey: `open:${contact._id}`,
		});
		return { contactId: contact._id as string, conversationId: conversation._id as string };
	};
	const flow = async (body: Record<string, unknown>) => {
		const created = await api.post("/automation/flows", body);
		expect(created.status).toBe(200);
		expect((await api.post(`/automation/flows/${created.body.data.id}/activate`)).body.data.status).toBe("active");
		return created.body.data.id as string;
	};
	const runs = async (flowId: string) =>
		(await api.get(`/automation/flows/${flowId}/runs?take=100`)).body.data as {
			status: string;
			log: { outcome: string; detail: string | null }[];
		}[];
	const tagsOf = async (contactId: string) => (await ContactModel.findById(contactId, { tags: 1 }).lean())?.tags ?? [];
	return { merchantId, accountId, api, customer, flow, runs, tagsOf };
}

describe("assign_conversation, round robin", () => {
	test("20 runs at once over 4 agents assign 5 conversations to each", async () => {
		const m = await merchant();
		const agents = ["agent-a", "agent-b", "agent-c", "agent-d"];
		const flowId = await m.flow({
			name: "Chia đều",
			trigger: { type: "tag_added", config: { tag: "lead" } },
			nodes: [{ type: "assign_conversation", strategy: "round_robin", userIds: agents }],
		});
		const people = await Promise.all(Array.from({ length: 20 }, () => m.customer()));
		await Promise.all(
			people.map(p => node.broker.emit("contact.tagAdded", { merchantId: m.merchantId, contactId: p.contactId, tag: "lead" }))
		);
		await waitUntil(async () => (await m.runs(flowId)).filter(r => r.status === "completed").length === 20, 20_000, "20 completed runs");
		const rows = await ConversationModel.find({ _id: { $in: people.map(p => p.conversationId) } }, { assignedToUserId: 1 }).lean();
		const perAgent = Object.fromEntries(agents.map(a => [a, rows.filter(r => r.assignedToUserId === a).length]));
		expect(perAgent).toEqual({ "agent-a": 5, "agent-b": 5, "agent-c": 5, "agent-d": 5 });
	});

	test("a fixed assignee gets the conversation; a contact without an open conversation is skipped with the reason", async () => {
		const m = await merchant();
		const flowId = await m.flow({
			name: "Giao cho Lan",
			trigger: { type: "tag_added", config: { tag: "vip" } },
			nodes: [{ type: "assign_conversation", userId: "lan" }],
		});
		const withConversation = await m.customer();
		const without = (await ContactModel.create({ merchantId: m.merchantId, accountId: m.accountId, twitterUserId: `${Date.now()}x` }))
			._id as string;
		await node.broker.emit("contact.tagAdded", { merchantId: m.merchantId, contactId: withConversation.contactId, tag: "vip" });
		await node.broker.emit("contact.tagAdded", { merchantId: m.merchantId, contactId: without, tag: "vip" });
		await waitUntil(async () => (await m.runs(flowId)).filter(r => r.status === "completed").length === 2, 10_000, "both runs");
		expect((await ConversationModel.findById(withConversation.conversationId, { assignedToUserId: 1 }).lean())?.assignedToUserId).toBe(
			"lan"
		);
		const outcomes = (await m.runs(flowId)).map(r => `${r.log[0].outcome} ${r.log[0].detail}`).sort();
		expect(outcomes).toEqual(["assigned lan", "skipped no_open_conversation"]);
	});
});

describe("close_conversation and the conversation_closed trigger", () => {
	test("a flow closes the conversation with its reason, and the close starts the flow on conversation_closed", async () => {
		const m = await merchant();
		const closer = await m.flow({
			name: "Đóng",
			trigger: { type: "tag_added", config: { tag: "done" } },
			nodes: [{ type: "close_conversation", reason: "xong" }],
		});
		const survey = await m.flow({
			name: "Khảo sát",
			trigger: { type: "conversation_closed", config: {} },
			nodes: [{ type: "add_tag", tag: "khao-sat" }],
		});
		const p = await m.customer();
		await node.broker.emit("contact.tagAdded", { merchantId: m.merchantId, contactId: p.contactId, tag: "done" });
		await waitUntil(async () => (await m.tagsOf(p.contactId)).includes("khao-sat"), 10_000, "the conversation_closed flow");
		const conversation = await ConversationModel.findById(p.conversationId).lean();
		expect(conversation).toMatchObject({ status: "closed", closeReason: "xong" });
		expect((await m.runs(closer))[0].log.map(e => e.outcome)).toEqual(["closed"]);
		expect((await m.runs(survey)).map(r => r.status)).toEqual(["completed"]);
	});

	test("closing from the inbox API starts the flow once, for that contact only", async () => {
		const m = await merchant();
		const flowId = await m.flow({
			name: "Sau khi đóng",
			trigger: { type: "conversation_closed", config: {} },
			nodes: [{ type: "add_tag", tag: "da-dong" }],
		});
		const [closed, other] = [await m.customer(), await m.customer()];
		expect((await m.api.put(`/conversations/${closed.conversationId}/close`, {})).status).toBe(200);
		await waitUntil(async () => (await m.tagsOf(closed.contactId)).includes("da-dong"), 10_000, "the flow's tag");
		expect(await m.tagsOf(other.contactId)).not.toContain("da-dong");
		expect((await m.api.put(`/conversations/${closed.conversationId}/close`, {})).status).toBeLessThan(500);
		expect(await m.runs(flowId)).toHaveLength(1);
	});
});

describe("the campaign_replied trigger", () => {
	test("a customer's reply to a campaign message starts the flow of that campaign, once, and not the flow of another campaign", async () => {
		const m = await merchant();
		const p = await m.customer();
		const campaignId = randomUUID();
		const otherCampaign = randomUUID();
		await CampaignModel.create({
			_id: campaignId,
			merchantId: m.merchantId,
			name: "Tết",
			templateId: randomUUID(),
			segmentIds: [],
			status: "running",
			accountId: m.accountId,
			accountIds: [m.accountId],
		});
		const sentAt = new Date(Date.now() - 3600_000);
		await CampaignDeliveryModel.create({
			_id: deliveryId(campaignId, p.contactId),
			merchantId: m.merchantId,
			campaignId,
			contactId: p.contactId,
			accountId: m.accountId,
			status: "sent",
			messageId: randomUUID(),
			sentAt,
		});
		const replied = await m.flow({
			name: "Cảm ơn",
			trigger: { type: "campaign_replied", config: { campaignId } },
			nodes: [{ type: "add_tag", tag: "da-tra-loi" }],
		});
		const other = await m.flow({
			name: "Khác",
			trigger: { type: "campaign_replied", config: { campaignId: otherCampaign } },
			nodes: [{ type: "add_tag", tag: "khac" }],
		});

		const message = {
			merchantId: m.merchantId,
			accountId: m.accountId,
			contactId: p.contactId,
			conversationId: p.conversationId,
			messageId: randomUUID(),
			content: "Còn hàng không shop?",
			at: new Date().toISOString(),
		};
		await node.broker.emit("message.received", message);
		await waitUntil(async () => (await m.tagsOf(p.contactId)).includes("da-tra-loi"), 10_000, "the campaign_replied flow");
		// The same message again (a replayed event), then a later message: the reply was the first one.
		await node.broker.emit("message.received", message);
		await node.broker.emit("message.received", { ...message, messageId: randomUUID(), at: new Date(Date.now() + 1000).toISOString() });
		await waitUntil(
			async () => (await CampaignDeliveryModel.findById(deliveryId(campaignId, p.contactId)).lean())?.replyMessageId === message.messageId,
			5000,
			"the reply"
		);
		expect(await m.runs(replied)).toHaveLength(1);
		expect(await m.runs(other)).toHaveLength(0);
		expect(await m.tagsOf(p.contactId)).not.toContain("khac");
	});
});
