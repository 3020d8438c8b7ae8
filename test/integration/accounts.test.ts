import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { dmPayload, postWebhook, xSignature } from "../helpers/x-events.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectThroughApi, newXUser } from "../helpers/accounts.ts";
import { AccountModel } from "../../models/account.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";

// Accounts through the gateway: connecting checks the OAuth token with X (the sandbox), the
// profile is stored and the secrets never come back; settings and disconnecting.

useFreshDatabase("accounts");

let x: TestSandbox;
let node: TestNode;
let signedBy: (body: string) => string;

beforeAll(async () => {
	x = await startTestSandbox();
	node = await startNode({ services: ["api", "accounts", "webhooks", "inbox", "x", "contacts"] });
	signedBy = body => xSignature(body, x.consumerSecret);
});
afterAll(async () => {
	await node.stop();
	await x.stop();
	await dropDatabase();
});

const connect = (merchantId: string) => connectThroughApi(x.sandbox, node.url, merchantId);

describe("accounts", () => {
	test("connecting checks the token with X and stores the profile; secrets never come back", async () => {
		const { account, user } = await connect("m-acc");
		expect(account).toMatchObject({
			merchantId: "m-acc",
			twitterUserId: user.id,
			username: user.username,
			displayName: user.name,
			status: "active",
		});
		const text = JSON.stringify(account);
		expect(text).not.toContain(user.tokenSecret);
		expect(text).not.toContain(user.token);
		const stored = await AccountModel.findById(account.id).lean();
		expect(stored!.oauthTokenSecretEnc).toBeTruthy();
		expect(stored!.oauthTokenSecretEnc).not.toContain(user.tokenSecret);
		const detail = await client(node.url, tokenFor("m-acc")).get(`/accounts/${account.id}`);
		expect(detail.body.data.statistics).toMatchObject({ totalContacts: 0, totalConversations: 0, messagesThisMonth: 0 });
		expect(detail.body.data.statistics.sendQuota).toMatchObject({ limit: 500, remaining: 500 });
		expect(JSON.stringify(detail.body)).not.toContain(user.tokenSecret);
	});

	test("a token X refuses is a 400 INVALID_OAUTH_CREDENTIALS and stores nothing", async () => {
		const res = await client(node.url, tokenFor("m-bad")).post("/accounts", { oauthToken: "nope", oauthTokenSecret: "nope" });
		expect(res.status).toBe(400);
		expect(res.body.errorCode).toBe("INVALID_OAUTH_CREDENTIALS");
		expect(await AccountModel.countDocuments({ merchantId: "m-bad" })).toBe(0);
	});

	test("an X account connected to one merchant is a 409 for another (and for the same one again)", async () => {
		const { user } = await connect("m-first");
		const body = { oauthToken: user.token, oauthTokenSecret: user.tokenSecret };
		const other = await client(node.url, tokenFor("m-second")).post("/accounts", body);
		expect(other.status).toBe(409);
		expect(other.body.errorCode).toBe("ACCOUNT_ALREADY_CONNECTED");
		expect((await client(node.url, tokenFor("m-first")).post("/accounts", body)).status).toBe(409);
	});

	test("two merchants connecting the same X account at once: one wins", async () => {
		const user = newXUser(x.sandbox);
		const body = { oauthToken: user.token, oauthTokenSecret: user.tokenSecret };
		const results = await Promise.all(["m-r1", "m-r2", "m-r3"].map(m => client(node.url, tokenFor(m)).post("/accounts", body)));
		expect(results.map(r => r.status).sort()).toEqual([200, 409, 409]);
		expect(await AccountModel.countDocuments({ twitterUserId: user.id, status: "active" })).toBe(1);
	});

	test("disconnecting erases the secrets, frees the X account, and its webhook events are ignored", async () => {
		const { account, user } = await connect("m-disc");
		const api = client(node.url, tokenFor("m-disc"));
		expect((await api.del(`/accounts/${account.id}`)).status).toBe(200);
		const stored = await AccountModel.findById(account.id).lean();
		expect(stored).toMatchObject({ status: "inactive", oauthTokenEnc: null, oauthTokenSecretEnc: null });
		const payload = dmPayload({
			forUserId: user.id,
			eventId: `dis-${Date.now()}`,
			senderId: "4242",
			recipientId: user.id,
			text: "anyone there?",
		});
		const body = JSON.stringify(payload);
		expect((await postWebhook(node.url, payload, { signature: signedBy(body) })).status).toBe(200);
		await waitUntil(async () => (await WebhookDeliveryModel.findOne({ forUserId: user.id }).lean())?.status === "ignored", 5000, "ignored");
		expect(await MessageModel.countDocuments({ content: "anyone there?" })).toBe(0);
		// and another merchant may now connect it
		expect(
			(await client(node.url, tokenFor("m-next")).post("/accounts", { oauthToken: user.token, oauthTokenSecret: user.tokenSecret })).status
		).toBe(200);
	});

	test("business hours: IANA timezone, HH:MM, start before end, weekdays by name (422 otherwise)", async () => {
		const { account } = await connect("m-hours");
		const api = client(node.url, tokenFor("m-hours"));
		const ok = await api.put(`/accounts/${account.id}`, {
			autoReplyEnabled: true,
			businessHours: {
				enabled: true,
				timezone: "Asia/Ho_Chi_Minh",
				schedule: { monday: { start: "09:00", end: "18:00" }, tuesday: { start: "09:00", end: "18:00" } },
			},
		});
		expect(ok.status).toBe(200);
		expect(ok.body.data).toMatchObject({ autoReplyEnabled: true, businessHours: { enabled: true, timezone: "Asia/Ho_Chi_Minh" } });
		const bad = await api.put(`/accounts/${account.id}`, {
			businessHours: {
				enabled: true,
				timezone: "Mars/Olympus",
				schedule: { funday: { start: "9:00", end: "18:00" }, friday: { start: "18:00", end: "09:00" } },
			},
		});
		expect(bad.status).toBe(422);
		expect(bad.body.details.map((d: { field: string }) => d.field)).toEqual(expect.arrayContaining(["businessHours.schedule.funday"]));
		const reversed = await api.put(`/accounts/${account.id}`, {
			businessHours: { enabled: true, timezone: "Mars/Olympus", schedule: { friday: { start: "18:00", end: "09:00" } } },
		});
		expect(reversed.status).toBe(422);
		expect(reversed.body.details).toEqual([
			{ field: "businessHours.timezone", message: expect.any(String) },
			{ field: "businessHours.schedule.friday", message: "start must be before end" },
		]);
	});
});
