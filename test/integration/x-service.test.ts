import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Agent, request as httpsRequest } from "node:https";
import { TwitterApi, ApiResponseError } from "twitter-api-v2";
import { redirectPlugin } from "../../lib/x/client.ts";
import { authorizationHeader } from "../../lib/x/oauth1.ts";
import { SendLedgerModel } from "../../models/send-ledger.model.ts";
import { dropDatabase, startNode, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { withEnv } from "../helpers/env.ts";
import { pngBytes, startFileServer, startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { connectAccount } from "../helpers/accounts.ts";

// The x service driving the real twitter-api-v2 against the X sandbox over HTTPS: the client
// trusts only the sandbox's certificate (X_API_CA_FILE), every request carries an OAuth 1.0a
// signature the sandbox checks, and X's refusals come back as our errors.

useFreshDatabase("x");

let x: TestSandbox;
let node: TestNode;
let files: Awaited<ReturnType<typeof startFileServer>>;
const png = pngBytes(300 * 1024);

beforeAll(async () => {
	x = await startTestSandbox();
	files = await startFileServer({
		"/logo.png": { type: "image/png", body: png },
		"/page.html": { type: "text/html", body: Buffer.from("<html></html>") },
		"/fake.png": { type: "image/png", body: Buffer.from("<html>not a png</html>") },
	});
	node = await startNode({ services: ["x"] });
});
afterAll(async () => {
	await node.stop();
	await files.stop();
	await x.stop();
	await dropDatabase();
});

const call = <T = any>(action: string, params: object, meta: object = {}) => node.broker.call<T, object>(`x.${action}`, params, { meta });
const failure = async (p: Promise<unknown>) => {
	try {
		await p;
	} catch (err) {
		return err as { code: number; type: string; message: string; data: any; retryable?: boolean };
	}
	throw new Error("expected the call to fail");
};
const xRequests = (path: RegExp) => x.sandbox.requests().filter(r => path.test(r.path));

describe("x.verifyCredentials", () => {
	test("a token X knows gives back its user: id, username, display name, avatar", async () => {
		const user = x.sandbox.addUser({
			token: "tok-verify",
			tokenSecret: "sec-verify",
			id: "4200000001",
			username: "goodgo_shop",
			name: "GoodGo Official",
		});
		const res = await call("verifyCredentials", { oauthToken: "tok-verify", oauthTokenSecret: "sec-verify" });
		expect(res).toEqual({
			twitterUserId: "4200000001",
			username: "goodgo_shop",
			displayName: "GoodGo Official",
			profileImageUrl: user.profileImageUrl,
		});
		const [req] = xRequests(/^\/2\/users\/me$/).slice(-1);
		expect(req).toMatchObject({ status: 200, userId: "4200000001" });
	});

	test("a token X refuses is a 400 INVALID_OAUTH_CREDENTIALS", async () => {
		const err = await failure(call("verifyCredentials", { oauthToken: "nobody", oauthTokenSecret: "nothing" }));
		expect(err).toMatchObject({ code: 400, type: "INVALID_OAUTH_CREDENTIALS" });
	});

	test("the right token with the wrong token secret is refused: the sandbox checks the signature", async () => {
		x.sandbox.addUser({ token: "tok-secret-check", tokenSecret: "the-real-secret" });
		const err = await failure(call("verifyCredentials", { oauthToken: "tok-secret-check", oauthTokenSecret: "a-guessed-secret" }));
		expect(err).toMatchObject({ code: 400, type: "INVALID_OAUTH_CREDENTIALS" });
		expect(x.sandbox.requests().at(-1)).toMatchObject({ status: 401, authError: "bad signature" });
	});

	test("X unreachable is a 503 UPSTREAM_UNAVAILABLE, not a 500", async () => {
		const restore = withEnv({ X_API_BASE_URL: "https://127.0.0.1:9" });
		const down = await startNode({ services: ["x"] });
		restore();
		try {
			const err = await failure(down.broker.call("x.verifyCredentials", { oauthToken: "tok-verify", oauthTokenSecret: "sec-verify" }));
			expect(err).toMatchObject({ code: 503, type: "UPSTREAM_UNAVAILABLE" });
		} finally {
			await down.stop();
		}
	});
});

describe("X_SANDBOX=1", () => {
	test("the x service runs the sandbox itself: the demo account's token checks out with no X credentials", async () => {
		const dataDir = mkdtempSync(path.join(os.tmpdir(), "mktx-x-sandbox-mode-"));
		const restore = withEnv({
			X_SANDBOX: "true",
			X_SANDBOX_PORT: "0",
			X_API_BASE_URL: "",
			X_API_CA_FILE: "",
			X_CONSUMER_KEY: "",
			X_CONSUMER_SECRET: "",
			DATA_DIR: dataDir,
		});
		let local: TestNode | null = null;
		try {
			local = await startNode({ services: ["x"] });
			const profile = await local.broker.call("x.verifyCredentials", {
				oauthToken: "sandbox-token",
				oauthTokenSecret: "sandbox-token-secret",
			});
			expect(profile).toMatchObject({ twitterUserId: "1000000001", username: "mktx_demo_shop" });
			expect(readFileSync(path.join(dataDir, "x-sandbox-ca.pem"), "utf8")).toMatch(/BEGIN CERTIFICATE/);
		} finally {
			restore();
			await local?.stop();
			rmSync(dataDir, { recursive: true, force: true });
		}
	});
});

describe("the sandbox checks OAuth 1.0a signatures", () => {
	const agent = () => new Agent({ ca: x.sandbox.ca });

	test("twitter-api-v2 signed with the wrong consumer secret gets X's 401", async () => {
		x.sandbox.addUser({ token: "tok-app", tokenSecret: "sec-app", id: "4200000002" });
		const wrong = new TwitterApi(
			{ appKey: x.consumerKey, appSecret: "not-the-consumer-secret", accessToken: "tok-app", accessSecret: "sec-app" },
			{ plugins: [redirectPlugin(x.sandbox.url)], httpAgent: agent() }
		);
		const err = await failure(wrong.v2.me());
		expect(err).toBeInstanceOf(ApiResponseError);
		expect(err.code).toBe(401);
		const right = new TwitterApi(
			{ appKey: x.consumerKey, appSecret: x.consumerSecret, accessToken: "tok-app", accessSecret: "sec-app" },
			{ plugins: [redirectPlugin(x.sandbox.url)], httpAgent: agent() }
		);
		expect((await right.v2.me()).data.id).toBe("4200000002");
	});

	test("a request signed by our own RFC 5849 signer passes; the same header on another URL or replayed fails", async () => {
		x.sandbox.addUser({ token: "tok-raw", tokenSecret: "sec-raw", id: "4200000003" });
		const url = new URL(`${x.sandbox.url}/2/users/me?user.fields=profile_image_url`);
		const auth = authorizationHeader({
			method: "GET",
			url,
			consumerKey: x.consumerKey,
			consumerSecret: x.consumerSecret,
			token: "tok-raw",
			tokenSecret: "sec-raw",
		});
		const get = (u: URL, authorization: string) =>
			new Promise<number>((resolve, reject) => {
				httpsRequest(u, { agent: agent(), headers: { authorization } }, res => {
					res.resume();
					resolve(res.statusCode ?? 0);
				})
					.on("error", reject)
					.end();
			});
		const tampered = new URL(`${x.sandbox.url}/2/users/me?user.fields=id`);
		expect(await get(tampered, auth)).toBe(401);
		expect(await get(url, auth)).toBe(200);
		expect(await get(url, auth)).toBe(401); // the nonce was used
	});
});

describe("x.sendDirectMessage", () => {
	const merchantId = `m-${randomUUID()}`;

	test("the DM reaches X signed by the account, and X's event id comes back", async () => {
		const { account, user } = await connectAccount(x.sandbox, merchantId);
		const res = await call(
			"sendDirectMessage",
			{ accountId: account._id, recipientTwitterUserId: "5550001", text: "Đơn hàng #12345 của bạn đã được gửi đi!", kind: "agent" },
			{ merchantId }
		);
		const dm = x.sandbox.received().find(d => d.dmEventId === res.twitterMessageId);
		expect(dm).toMatchObject({ senderId: user.id, recipientId: "5550001", text: "Đơn hàng #12345 của bạn đã được gửi đi!", media: [] });
		expect(res.dmConversationId).toBe(dm!.dmConversationId);
		expect(new Date(res.sentAt).toString()).not.toBe("Invalid Date");
		expect(await SendLedgerModel.findOne({ accountId: account._id }).lean()).toMatchObject({
			state: "sent",
			twitterMessageId: res.twitterMessageId,
			kind: "agent",
		});
	});

	test("the merchant comes from meta only: none is a 401, one in params is refused, another merchant's account is a 404", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const before = x.sandbox.requests().length;
		const anonymous = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550002", text: "hi", kind: "bot" })
		);
		expect(anonymous).toMatchObject({ code: 401 });
		const inParams = await failure(
			call(
				"sendDirectMessage",
				{ merchantId, accountId: account._id, recipientTwitterUserId: "5550002", text: "hi", kind: "bot" },
				{ merchantId }
			)
		);
		expect(inParams).toMatchObject({ code: 422 });
		const err = await failure(
			call(
				"sendDirectMessage",
				{ accountId: account._id, recipientTwitterUserId: "5550002", text: "hi", kind: "agent" },
				{ merchantId: "m-other" }
			)
		);
		expect(err).toMatchObject({ code: 404, type: "NOT_FOUND" });
		expect(x.sandbox.requests()).toHaveLength(before);
	});

	test("a disconnected account is a 409 ACCOUNT_INACTIVE and nothing reaches X", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId, { status: "inactive" });
		const before = x.sandbox.requests().length;
		const err = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550003", text: "hi", kind: "agent" }, { merchantId })
		);
		expect(err).toMatchObject({ code: 409, type: "ACCOUNT_INACTIVE" });
		expect(x.sandbox.requests()).toHaveLength(before);
	});

	test("with mediaUrl the image is fetched, uploaded in chunks (initialize/append/finalize) and attached", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const start = x.sandbox.requests().length;
		const res = await call(
			"sendDirectMessage",
			{ accountId: account._id, recipientTwitterUserId: "5550004", text: "Mã vận đơn", mediaUrl: files.url("/logo.png"), kind: "agent" },
			{ merchantId }
		);
		const dm = x.sandbox.received().find(d => d.dmEventId === res.twitterMessageId)!;
		expect(dm.media).toEqual([{ mediaId: expect.stringMatching(/^\d+$/), mediaType: "image/png", size: png.length }]);
		const endpoints = x.sandbox
			.requests()
			.slice(start)
			.map(r => r.endpoint);
		expect(endpoints).toEqual(["media.initialize", "media.append", "media.finalize", "dm.send"]);
	});

	test.each([
		["a page that is not an image", "/page.html", /content type "text\/html"/],
		["bytes that are not what the content type says", "/fake.png", /not a image\/png/],
		["a missing file", "/nothing.png", /HTTP 404/],
	])("mediaUrl pointing at %s is a 422 on mediaUrl and nothing reaches X", async (_label, file, message) => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const before = x.sandbox.requests().length;
		const err = await failure(
			call(
				"sendDirectMessage",
				{ accountId: account._id, recipientTwitterUserId: "5550005", text: "x", mediaUrl: files.url(file), kind: "agent" },
				{ merchantId }
			)
		);
		expect(err).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
		expect(err.data[0]).toMatchObject({ field: "mediaUrl", message: expect.stringMatching(message) });
		expect(x.sandbox.requests()).toHaveLength(before);
	});

	test("a private address is refused unless MEDIA_ALLOW_PRIVATE_HOSTS is on", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const restore = withEnv({ MEDIA_ALLOW_PRIVATE_HOSTS: "false" });
		try {
			const err = await failure(
				call(
					"sendDirectMessage",
					{ accountId: account._id, recipientTwitterUserId: "5550006", text: "x", mediaUrl: files.url("/logo.png"), kind: "agent" },
					{ merchantId }
				)
			);
			expect(err).toMatchObject({ code: 422, type: "VALIDATION_ERROR" });
			expect(err.data[0].message).toMatch(/private/);
		} finally {
			restore();
		}
	});

	test("X's 429 is a 429 RATE_LIMITED whose retryAfter comes from X's 24-hour reset header; the slot is given back", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		x.sandbox.rateLimitNext({ resetInSeconds: 120, userDayRemaining: 0, userDayResetInSeconds: 3600 });
		const err = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550007", text: "x", kind: "agent" }, { merchantId })
		);
		expect(err).toMatchObject({ code: 429, type: "RATE_LIMITED", data: { source: "x", limits: ["x_user_24hour"] } });
		expect(err.data.retryAfter).toBeGreaterThan(3590);
		expect(err.data.retryAfter).toBeLessThanOrEqual(3601);
		expect(await SendLedgerModel.findOne({ accountId: account._id }).lean()).toMatchObject({ state: "released" });
	});

	test("X's 429 on the 15-minute window alone gives that window's reset", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		x.sandbox.rateLimitNext({ resetInSeconds: 120 });
		const err = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550008", text: "x", kind: "agent" }, { merchantId })
		);
		expect(err).toMatchObject({ code: 429, data: { limits: ["x_endpoint_15min"] } });
		expect(err.data.retryAfter).toBeGreaterThan(110);
		expect(err.data.retryAfter).toBeLessThanOrEqual(121);
	});

	test("X's 403 is a 422 X_REJECTED carrying X's reason, and the slot stops counting", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		x.sandbox.failNext({ status: 403, detail: "You cannot send messages to this user." });
		const err = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550009", text: "x", kind: "campaign" }, { merchantId })
		);
		expect(err).toMatchObject({ code: 422, type: "X_REJECTED", data: { reason: "You cannot send messages to this user.", xStatus: 403 } });
		expect(err.retryable).toBeFalsy();
		const quota = await call("sendQuota", { accountId: account._id }, { merchantId });
		expect(quota.used).toBe(0);
	});

	test("a connection cut after the DM was sent is a 503 X_DELIVERY_UNKNOWN, not retried, and the slot keeps counting", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		x.sandbox.failNext({ dropConnection: true });
		const before = xRequests(/dm_conversations/).length;
		const err = await failure(
			call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550010", text: "x", kind: "agent" }, { merchantId })
		);
		expect(err).toMatchObject({ code: 503, type: "X_DELIVERY_UNKNOWN" });
		expect(err.retryable).toBeFalsy();
		expect(xRequests(/dm_conversations/).length - before).toBe(1); // the broker did not send it again
		expect((await call("sendQuota", { accountId: account._id }, { merchantId })).used).toBe(1);
	});

	test("past our own limit (SEND_LIMIT_USER_PER_15MIN=2) the send is a 429 RATE_LIMITED and no request reaches X", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const restore = withEnv({ SEND_LIMIT_USER_PER_15MIN: "2" });
		try {
			const send = () =>
				call("sendDirectMessage", { accountId: account._id, recipientTwitterUserId: "5550011", text: "x", kind: "agent" }, { merchantId });
			await send();
			await send();
			const before = x.sandbox.requests().length;
			const err = await failure(send());
			expect(err).toMatchObject({ code: 429, type: "RATE_LIMITED", data: { source: "mkt-x", limits: ["x_user_15min"] } });
			expect(err.data.retryAfter).toBeGreaterThan(890);
			expect(err.data.retryAfter).toBeLessThanOrEqual(900);
			expect(x.sandbox.requests()).toHaveLength(before);
		} finally {
			restore();
		}
	});

	test("20 concurrent sends against a limit of 5: exactly 5 reach X, 15 are 429", async () => {
		const { account, user } = await connectAccount(x.sandbox, merchantId);
		const restore = withEnv({ SEND_LIMIT_ACCOUNT_PER_DAY: "5" });
		try {
			const results = await Promise.allSettled(
				Array.from({ length: 20 }, (_, i) =>
					call(
						"sendDirectMessage",
						{ accountId: account._id, recipientTwitterUserId: String(6000000 + i), text: `#${i}`, kind: "agent" },
						{ merchantId }
					)
				)
			);
			expect(results.filter(r => r.status === "fulfilled")).toHaveLength(5);
			const refused = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
			expect(refused.map(r => r.reason.type)).toEqual(Array(15).fill("RATE_LIMITED"));
			expect(x.sandbox.received().filter(d => d.senderId === user.id)).toHaveLength(5);
		} finally {
			restore();
		}
	});
});

describe("x.sendQuota and x.checkSendAllowed", () => {
	const merchantId = `m-${randomUUID()}`;

	test("the quota shows the contract's 500 per 24 hours, each limit behind it, and moves with each send", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const empty = await call("sendQuota", { accountId: account._id }, { merchantId });
		expect(empty).toMatchObject({ limit: 500, used: 0, remaining: 500, resetAt: null, remainingNow: 15 });
		expect(empty.limits.map((l: { name: string }) => l.name)).toEqual([
			"account_daily",
			"x_user_15min",
			"x_user_daily",
			"x_app_daily",
			"merchant_share_daily",
		]);

		await call(
			"sendDirectMessage",
			{ accountId: account._id, recipientTwitterUserId: "7000001", text: "x", kind: "agent" },
			{ merchantId }
		);
		const after = await call("sendQuota", { accountId: account._id }, { merchantId });
		expect(after).toMatchObject({ limit: 500, used: 1, remaining: 499, remainingNow: 14 });
		expect(Date.parse(after.resetAt) - Date.now()).toBeGreaterThan(24 * 3600_000 - 60_000);
	});

	test("checkSendAllowed says whether a send of a kind may go now, without taking a slot", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const restore = withEnv({ SEND_LIMIT_USER_PER_15MIN: "1" });
		try {
			expect(await call("checkSendAllowed", { accountId: account._id, kind: "campaign" }, { merchantId })).toMatchObject({
				allowed: true,
				remaining: 1,
				retryAt: null,
			});
			await call(
				"sendDirectMessage",
				{ accountId: account._id, recipientTwitterUserId: "7000002", text: "x", kind: "campaign" },
				{ merchantId }
			);
			const res = await call("checkSendAllowed", { accountId: account._id, kind: "campaign" }, { merchantId });
			expect(res).toMatchObject({ allowed: false, remaining: 0 });
			expect(Date.parse(res.retryAt) - Date.now()).toBeGreaterThan(14 * 60_000);
			expect(await SendLedgerModel.countDocuments({ accountId: account._id })).toBe(1);
		} finally {
			restore();
		}
	});

	test("another merchant's account has no quota to read: 404", async () => {
		const { account } = await connectAccount(x.sandbox, merchantId);
		const err = await failure(call("sendQuota", { accountId: account._id }, { merchantId: "m-other" }));
		expect(err).toMatchObject({ code: 404 });
	});
});

describe("the sandbox plays X towards our webhook", () => {
	test("postInboundDm posts an Account Activity DM signed with the consumer secret", async () => {
		let received: { headers: Record<string, string | string[] | undefined>; body: string } | null = null;
		const { createServer } = await import("node:http");
		const server = createServer((req, res) => {
			let body = "";
			req.on("data", c => (body += c));
			req.on("end", () => {
				received = { headers: req.headers, body };
				res.writeHead(200).end("{}");
			});
		});
		await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
		const port = (server.address() as { port: number }).port;
		try {
			x.sandbox.setWebhookUrl(`http://127.0.0.1:${port}/hook`);
			const account = x.sandbox.addUser({ token: "tok-hook", tokenSecret: "sec-hook", id: "4200000009", username: "hook_shop" });
			const delivery = await x.sandbox.postInboundDm({
				to: account.id,
				from: { id: "9100001", username: "buyer", name: "Buyer" },
				text: "Xin chào!",
			});
			expect(delivery.status).toBe(200);
			const { createHmac } = await import("node:crypto");
			const expected = "sha256=" + createHmac("sha256", x.consumerSecret).update(received!.body).digest("base64");
			expect(received!.headers["x-twitter-webhooks-signature"]).toBe(expected);
			const payload = JSON.parse(received!.body);
			expect(payload).toMatchObject({
				for_user_id: "4200000009",
				direct_message_events: [
					{
						type: "message_create",
						message_create: { sender_id: "9100001", target: { recipient_id: "4200000009" }, message_data: { text: "Xin chào!" } },
					},
				],
				users: { "9100001": { screen_name: "buyer", name: "Buyer" }, "4200000009": { screen_name: "hook_shop" } },
			});
			expect(payload.direct_message_events[0].id).toMatch(/^\d+$/);
		} finally {
			x.sandbox.setWebhookUrl(null);
			await new Promise<void>(r => server.close(() => r()));
		}
	});
});
