import { randomUUID } from "node:crypto";
import { client, dropDatabase, eventRecorder, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectAccount } from "../helpers/accounts.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { CampaignDeliveryModel } from "../../models/campaign-delivery.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";

// Campaigns through the gateway, sent by their Agenda jobs through the real x service to the
// X sandbox over HTTPS (twitter-api-v2, OAuth 1.0a checked by the sandbox), with opens, clicks
// and replies coming back the way X sends them: signed webhook deliveries.

useFreshDatabase("campaigns");

const SERVICES = ["api", "accounts", "contacts", "templates", "segments", "inbox", "x", "webhooks", "campaigns"];
const events = eventRecorder(["campaign.started", "campaign.progress", "campaign.completed"]);
let x: TestSandbox;
let node: TestNode;

beforeAll(async () => {
	x = await startTestSandbox();
	node = await startNode({ services: SERVICES, extraServices: [events.schema] });
	x.sandbox.setWebhookUrl(`${node.url}/api/v1/mkt-x/webhooks/twitter`);
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	await dropDatabase();
});

let nextTwitterId = 7_100_000_000;

/** A merchant with a connected sandbox account, a template and a segment of tag `tag`. */
async function merchantWithCampaignParts(content = "Chào {{name}}, mã {{discount_code}} giảm 10%") {
	const merchantId = `m-${randomUUID().slice(0, 8)}`;
	const api = client(node.url, tokenFor(merchantId));
	// Stored as connecting stores it, with the link webhook deliveries find the account by.
	const { account, user } = await connectAccount(x.sandbox, merchantId);
	const tag = `tet-${randomUUID().slice(0, 6)}`;
	const template = (await api.post("/templates", { name: `tpl ${tag}`, content })).body.data;
	const segment = (await api.post("/segments", { name: `seg ${tag}`, conditions: [{ field: "tags", operator: "contains", value: tag }] }))
		.body.data;
	expect(template?.id && segment?.id).toBeTruthy();
	const contacts = async (n: number, fields: Record<string, unknown> = {}, accountId = account._id) =>
		ContactModel.create(
			Array.from({ length: n }, (_, i) => {
				const id = String(nextTwitterId++);
				return {
					merchantId,
					accountId,
					twitterUserId: id,
					username: `cust_${id}`,
					displayName: `Khách ${i + 1}`,
					tags: [tag],
					lastInboundAt: new Date(),
					...fields,
				};
			})
		);
	return { merchantId, api, account, user, tag, template, segment, contacts };
}

const dmsTo = (ids: string[]) => x.sandbox.received().filter(dm => ids.includes(dm.recipientId));
// Polled in the database: the API's per-merchant rate limit (100 a minute) is not for polling.
const campaignDone = (id: string, timeoutMs = 30_000) =>
	waitUntil(
		async () => (await CampaignModel.findById(id, { status: 1 }).lean())?.status === "completed",
		timeoutMs,
		`campaign ${id} completed`
	);

describe("creating campaigns", () => {
	test("every problem of a campaign is one 422: another merchant's template, a missing segment, endAt before startAt, a variable nobody gives", async () => {
		const mine = await merchantWithCampaignParts("Chào {{name}}, mã {{discount_code}} tại {{shop_name}}");
		const other = await merchantWithCampaignParts();
		const res = await mine.api.post("/campaigns", {
			name: "Khuyến Mãi Tết 2026",
			templateId: other.template.id,
			segmentIds: [mine.segment.id, randomUUID()],
			schedule: { startAt: "2030-01-25T09:00:00Z", endAt: "2030-01-20T00:00:00Z" },
			variables: { shop_name: "GoodGo" },
		});
		expect(res.status).toBe(422);
		expect(res.body).toMatchObject({ success: false, errorCode: "VALIDATION_ERROR" });
		expect(res.body.details.map((d: { field: string }) => d.field).sort()).toEqual(["schedule.endAt", "segmentIds[1]", "templateId"]);

		const missing = await mine.api.post("/campaigns", {
			name: "Tết",
			templateId: mine.template.id,
			segmentIds: [mine.segment.id],
			variables: { shop_name: "GoodGo" },
		});
		expect(missing.status).toBe(422);
		expect(missing.body.details).toEqual([
			{ field: "variables.discount_code", message: expect.stringMatching(/neither built-in nor given/) },
		]);

		const badName = await mine.api.post("/campaigns", {
			name: "Tết",
			templateId: mine.template.id,
			segmentIds: [mine.segment.id],
			variables: { discount_code: "A", shop_name: { $gt: "" }, "a.b": "x" },
		});
		expect(badName.body.details).toEqual([
			{ field: "variables.shop_name", message: "must be a string, number or boolean" },
			{ field: "variables.a.b", message: expect.stringMatching(/not a valid variable name/) },
		]);

		const none = await mine.api.post("/campaigns", { name: "Tết", templateId: mine.template.id, segmentIds: [] });
		expect(none.status).toBe(422);
		expect(none.body.details).toEqual([{ field: "segmentIds", message: "must have at least 1 item" }]);
	});

	test("without startAt a campaign is a draft; with it, scheduled, and targetContactCount counts the eligible contacts now", async () => {
		const m = await merchantWithCampaignParts();
		await m.contacts(3);
		await m.contacts(1, { optedOut: true });
		await m.contacts(1, { lastInboundAt: null });
		const draft = await m.api.post("/campaigns", {
			name: "Nháp",
			templateId: m.template.id,
			segmentIds: [m.segment.id],
			variables: { discount_code: "TET2026" },
		});
		expect(draft.status).toBe(200);
		expect(draft.body.data).toMatchObject({
			merchantId: m.merchantId,
			name: "Nháp",
			status: "draft",
			targetContactCount: null,
			createdAt: expect.any(String),
		});

		const scheduled = await m.api.post("/campaigns", {
			name: "Khuyến Mãi Tết 2026",
			templateId: m.template.id,
			segmentIds: [m.segment.id, m.segment.id],
			schedule: { startAt: "2030-01-25T09:00:00Z", endAt: "2030-01-31T23:59:59Z" },
			variables: { discount_code: "TET2026" },
		});
		expect(scheduled.body.data).toMatchObject({
			status: "scheduled",
			targetContactCount: 3,
			segmentIds: [m.segment.id],
			schedule: { startAt: "2030-01-25T09:00:00.000Z", endAt: "2030-01-31T23:59:59.000Z" },
		});

		const list = await m.api.get("/campaigns?status=scheduled");
		expect(list.body.data.map((c: { id: string }) => c.id)).toEqual([scheduled.body.data.id]);
		const page = await m.api.get("/campaigns?take=1");
		expect(page.body.pagination).toEqual({ page: 1, limit: 1, total: 2, totalPages: 2 });
		expect((await client(node.url, tokenFor("someone-else")).get(`/campaigns/${draft.body.data.id}`)).status).toBe(404);
	});

	test("only a draft or scheduled campaign may be edited or deleted, and an invalid transition is a 409 naming the status", async () => {
		const m = await merchantWithCampaignParts();
		const c = (
			await m.api.post("/campaigns", {
				name: "Sửa",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				variables: { discount_code: "A" },
			})
		).body.data;
		const edited = await m.api.put(`/campaigns/${c.id}`, { name: "Đã sửa", schedule: { startAt: "2030-02-01T09:00:00Z" } });
		expect(edited.body.data).toMatchObject({ name: "Đã sửa", status: "scheduled", targetContactCount: 0 });

		const pause = await m.api.post(`/campaigns/${c.id}/pause`);
		expect(pause.status).toBe(409);
		expect(pause.body).toMatchObject({ errorCode: "INVALID_CAMPAIGN_STATUS", details: { field: "status", status: "scheduled" } });

		expect((await m.api.post(`/campaigns/${c.id}/cancel`)).body.data.status).toBe("cancelled");
		const edit = await m.api.put(`/campaigns/${c.id}`, { name: "Nữa" }, { "Accept-Language": "en" });
		expect(edit.status).toBe(409);
		expect(edit.body.error).toBe("Cannot edit a campaign that is cancelled");
		expect((await m.api.del(`/campaigns/${c.id}`)).status).toBe(409);

		const d = (
			await m.api.post("/campaigns", {
				name: "Xóa",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				variables: { discount_code: "A" },
			})
		).body.data;
		expect((await m.api.del(`/campaigns/${d.id}`)).body.data).toEqual({ id: d.id, deleted: true });
		expect((await m.api.get(`/campaigns/${d.id}`)).status).toBe(404);
	});
});

describe("preview-launch", () => {
	test("eligible and skipped counts by reason, the finish time under the send limits, and three rendered samples", async () => {
		const m = await merchantWithCampaignParts("Chào {{name}}, mã {{discount_code}}: https://shop.example/tet");
		await m.contacts(20);
		await m.contacts(2, { optedOut: true });
		await m.contacts(1, { lastInboundAt: null });
		await m.contacts(1, { lastInboundAt: null, optedIn: true });
		const { account: inactive } = await connectAccount(x.sandbox, m.merchantId, { status: "inactive" });
		await m.contacts(1, {}, inactive._id);
		const c = (
			await m.api.post("/campaigns", {
				name: "Xem trước",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				variables: { discount_code: "TET" },
			})
		).body.data;

		const res = await m.api.post(`/campaigns/${c.id}/preview-launch`);
		expect(res.status).toBe(200);
		const p = res.body.data;
		expect(p).toMatchObject({
			audience: 25,
			eligible: 21,
			skipped: { total: 4, byReason: { opted_out: 2, no_prior_contact: 1, account_inactive: 1 } },
			expectedExpired: 0,
		});
		// 21 recipients at 15 per 15 minutes: the last 6 go 15 minutes after the first 15.
		const finish = Date.parse(p.estimatedFinishAt) - Date.parse(p.estimatedStartAt);
		expect(finish).toBe(15 * 60_000);
		expect(p.accounts).toEqual([
			{
				accountId: m.account._id,
				recipients: 21,
				sendQuota: { limit: 500, used: 0, remaining: 500, resetAt: null },
				estimatedFinishAt: p.estimatedFinishAt,
			},
		]);
		expect(p.samples).toHaveLength(3);
		for (const s of p.samples) {
			expect(s.text).toBe(`Chào ${s.displayName}, mã TET: https://shop.example/tet`);
			expect(s.trackedLinks).toEqual(["https://shop.example/tet"]);
		}
		// Nothing was written or sent by a preview.
		expect(await CampaignDeliveryModel.countDocuments({ campaignId: c.id })).toBe(0);
	});
});

describe("sending", () => {
	test("a campaign scheduled a moment ahead starts by itself, sends once to each eligible contact, skips the rest with reasons, and completes", async () => {
		const m = await merchantWithCampaignParts();
		const eligible = await m.contacts(4);
		const optedOut = await m.contacts(1, { optedOut: true });
		const stranger = await m.contacts(1, { lastInboundAt: null });
		const startAt = new Date(Date.now() + 1500).toISOString();
		const c = (
			await m.api.post("/campaigns", {
				name: "Sắp chạy",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				schedule: { startAt },
				variables: { discount_code: "TET2026" },
			})
		).body.data;
		expect(c).toMatchObject({ status: "scheduled", targetContactCount: 4 });

		await campaignDone(c.id);
		const detail = (await m.api.get(`/campaigns/${c.id}`)).body.data;
		expect(detail.progress).toEqual({ total: 6, sent: 4, failed: 0, skipped: 2, pending: 0, unknown: 0, expired: 0, cancelled: 0 });
		expect(detail.metrics).toEqual({ totalSent: 4, delivered: 4, opened: 0, clicked: 0, replied: 0, failed: 0 });

		const ids = eligible.map(e => e.twitterUserId);
		const dms = dmsTo([...ids, optedOut[0].twitterUserId, stranger[0].twitterUserId]);
		expect(dms.map(d => d.recipientId).sort()).toEqual([...ids].sort());
		expect(dms.every(d => d.senderId === m.user.id)).toBe(true);
		const byRecipient = new Map(eligible.map(e => [e.twitterUserId, e.displayName]));
		for (const dm of dms) expect(dm.text).toBe(`Chào ${byRecipient.get(dm.recipientId)}, mã TET2026 giảm 10%`);

		const skipped = await CampaignDeliveryModel.find({ campaignId: c.id, status: "skipped" }, { contactId: 1, reason: 1 }).lean();
		expect(Object.fromEntries(skipped.map(s => [s.contactId, s.reason]))).toEqual({
			[optedOut[0]._id]: "opted_out",
			[stranger[0]._id]: "no_prior_contact",
		});
		// The messages are in each contact's conversation like any outbound message.
		const messages = await MessageModel.find({ origin: `campaign:${c.id}` }).lean();
		expect(messages.map(msg => msg.status)).toEqual(["sent", "sent", "sent", "sent"]);

		expect(events.of("campaign.started").filter(e => e.campaignId === c.id)).toEqual([
			expect.objectContaining({ merchantId: m.merchantId, eligible: 4, skipped: 2 }),
		]);
		expect(events.of("campaign.completed").filter(e => e.campaignId === c.id)).toHaveLength(1);
		expect(events.of("campaign.progress").some(e => e.campaignId === c.id)).toBe(true);
	});

	test("X refusing a DM (403) fails that delivery with X's reason; the others are sent", async () => {
		const m = await merchantWithCampaignParts();
		await m.contacts(3);
		const c = (
			await m.api.post("/campaigns", {
				name: "403",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				variables: { discount_code: "X" },
			})
		).body.data;
		x.sandbox.failNext({ status: 403, detail: "You cannot send messages to this user." });
		expect((await m.api.post(`/campaigns/${c.id}/start`)).body.data.status).toBe("running");
		await campaignDone(c.id);

		const failed = await CampaignDeliveryModel.find({ campaignId: c.id, status: "failed" }).lean();
		expect(failed).toHaveLength(1);
		expect(failed[0].reason).toMatch(/You cannot send messages to this user/);
		const metrics = (await m.api.get(`/campaigns/${c.id}/metrics`)).body.data;
		expect(metrics).toMatchObject({
			totalSent: 3,
			delivered: 2,
			failed: 1,
			deliveryRate: 66.7,
			failureRate: 33.3,
			skipped: 0,
			expired: 0,
			unknown: 0,
		});
	});
});

describe("engagement", () => {
	test("opens from X read receipts, the first click per recipient through /r/<token>, and replies within 72 hours", async () => {
		const m = await merchantWithCampaignParts("Chào {{name}}! Xem ưu đãi tại https://shop.example/tet?ref=dm nhé.");
		const people = await m.contacts(3);
		const c = (await m.api.post("/campaigns", { name: "Tương tác", templateId: m.template.id, segmentIds: [m.segment.id] })).body.data;
		await m.api.post(`/campaigns/${c.id}/start`);
		await campaignDone(c.id);
		const [a, b, other] = people;
		const dmOf = (p: (typeof people)[number]) => dmsTo([p.twitterUserId])[0];

		// Links were rewritten to tracking URLs, one token per recipient.
		const tokenOf = (p: (typeof people)[number]) => /https?:\/\/[^\s]+\/r\/([A-Za-z0-9_-]+)/.exec(dmOf(p).text)?.[1];
		expect(dmOf(a).text).toMatch(/^Chào Khách \d! Xem ưu đãi tại http:\/\/localhost:5000\/r\/[A-Za-z0-9_-]{22} nhé\.$/);
		expect(new Set(people.map(tokenOf)).size).toBe(3);

		// A opens (read receipt), clicks twice; B replies without a read receipt; C does nothing.
		await x.sandbox.postReadReceipt({ account: m.user.id, reader: { id: a.twitterUserId }, lastReadEventId: dmOf(a).dmEventId });
		const click = () => client(node.url).get(`/r/${tokenOf(a)}`);
		const first = await click();
		expect(first.status).toBe(302);
		expect(first.headers.get("location")).toBe("https://shop.example/tet?ref=dm");
		expect((await click()).status).toBe(302);
		expect((await client(node.url).get("/r/not-a-real-token")).status).toBe(404);
		await x.sandbox.postInboundDm({
			to: m.user.id,
			from: { id: b.twitterUserId, username: b.username, name: b.displayName },
			text: "Cho mình hỏi size áo",
		});
		// A reply more than 72 hours after the campaign message is not the campaign's.
		const late = new Date(Date.now() + 73 * 3600_000);
		await x.sandbox.postInboundDm({
			to: m.user.id,
			from: { id: other.twitterUserId, username: other.username, name: other.displayName },
			text: "Còn hàng không?",
			createdAt: late,
		});

		const metrics = async () => (await m.api.get(`/campaigns/${c.id}/metrics`)).body.data;
		const count = (field: string) => CampaignDeliveryModel.countDocuments({ campaignId: c.id, [field]: { $ne: null } });
		await waitUntil(
			async () => (await count("repliedAt")) === 1 && (await count("openedAt")) === 2,
			10_000,
			"the open and the reply counted"
		);
		await waitUntil(
			async () => (await MessageModel.countDocuments({ contactId: other._id, direction: "inbound" })) === 1,
			10_000,
			"the late reply stored"
		);
		expect(await metrics()).toMatchObject({
			totalSent: 3,
			delivered: 3,
			deliveryRate: 100,
			opened: 2,
			openRate: 66.7,
			clicked: 1,
			clickRate: 50,
			replied: 1,
			replyRate: 50,
			failed: 0,
			failureRate: 0,
		});
		const rows = Object.fromEntries((await CampaignDeliveryModel.find({ campaignId: c.id }).lean()).map(r => [r.contactId, r]));
		expect(rows[a._id]).toMatchObject({ openedAt: expect.any(Date), clickedAt: expect.any(Date), repliedAt: null });
		expect(rows[b._id]).toMatchObject({ repliedAt: expect.any(Date), clickedAt: null });
		expect(rows[other._id]).toMatchObject({ openedAt: null, clickedAt: null, repliedAt: null });
	});
});

describe("what other services ask", () => {
	test("the template and segment of a scheduled campaign cannot be deleted; erasing a contact erases its deliveries", async () => {
		const m = await merchantWithCampaignParts();
		const [person] = await m.contacts(1);
		const c = (
			await m.api.post("/campaigns", {
				name: "Đang dùng",
				templateId: m.template.id,
				segmentIds: [m.segment.id],
				schedule: { startAt: "2030-01-01T00:00:00Z" },
				variables: { discount_code: "A" },
			})
		).body.data;
		const tpl = await m.api.del(`/templates/${m.template.id}`);
		expect(tpl.status).toBe(409);
		expect(tpl.body).toMatchObject({
			errorCode: "TEMPLATE_IN_USE",
			details: { usedBy: [{ kind: "campaign", id: c.id, name: "Đang dùng", status: "scheduled" }] },
		});
		expect((await m.api.del(`/segments/${m.segment.id}`)).body.errorCode).toBe("SEGMENT_IN_USE");

		await m.api.post(`/campaigns/${c.id}/start`);
		await campaignDone(c.id);
		const erased = await m.api.del(`/contacts/${person._id}`);
		expect(erased.body.data.erased).toMatchObject({ campaignDeliveries: 1, contacts: 1 });
		expect(await CampaignDeliveryModel.countDocuments({ contactId: person._id })).toBe(0);
		// Completed campaigns no longer hold their template.
		expect((await m.api.del(`/templates/${m.template.id}`)).status).toBe(200);
	});
});
