import { buildConsole } from "../../scripts/console-build.ts";
import { ENDPOINTS, EVENTS_PATH } from "../../console/src/endpoints.ts";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { startBrowser, type TestBrowser } from "../helpers/browser.ts";

// The console in a real browser (Debian's Chromium) against a node with every service and the
// X sandbox: what an agent and a marketer do, each step checked on the page and where it lands
// (the sandbox for DMs). Steps run in order on one page, as a person would use it.

useFreshDatabase("console");

const MERCHANT = "merchant-console";
let x: TestSandbox;
let node: TestNode;
let b: TestBrowser;
let accountUserId = "";
const customer = { id: "7100000001", username: "khach_lan", name: "Chị Lan" };

beforeAll(async () => {
	buildConsole();
	x = await startTestSandbox();
	node = await startNode();
	x.sandbox.setWebhookUrl(`${node.url}/api/v1/mkt-x/webhooks/twitter`);
	// Connected through the API, as the Settings screen does (it also links the X user for webhooks).
	const user = x.sandbox.addUser({ token: "tok-console", tokenSecret: "sec-console-secret", id: "4300000001", username: "console_shop" });
	const res = await client(node.url, tokenFor(MERCHANT)).post("/accounts", { oauthToken: user.token, oauthTokenSecret: user.tokenSecret });
	expect(res.status).toBe(200);
	accountUserId = user.id;
	b = await startBrowser();
});
afterAll(async () => {
	await b?.close();
	await node?.stop();
	await x?.stop();
	await dropDatabase();
});

describe("/console", () => {
	test("the development sign-in gives a token for the merchant chosen and opens the inbox, live", async () => {
		const { page } = b;
		await page.goto(`${node.url}/console/`);
		await page.locator("form.dev input[name=merchantId]").fill(MERCHANT);
		await page.locator("form.dev input[name=userId]").fill("agent-7");
		await page.locator("form.dev button[type=submit]").click();
		await page.locator("main[data-screen=inbox]").waitFor();
		await page.locator(".live-dot.live").waitFor();
		await expectText(page.locator(".who"), `${MERCHANT} · agent-7`);
	});

	test("a customer's message appears in the inbox without a reload, then in the open conversation", async () => {
		const { page } = b;
		expect((await x.sandbox.postInboundDm({ to: accountUserId, from: customer, text: "Shop ơi, đơn #123 đến đâu rồi?" })).status).toBe(200);
		const api = client(node.url, tokenFor(MERCHANT));
		await waitUntil(async () => (await api.get("/conversations")).body.data?.length > 0, 15_000, "the conversation stored");
		const item = page.locator("#conversation-list li", { hasText: customer.name });
		await item.waitFor();
		await item.click();
		await page.locator("#messages .msg.inbound", { hasText: "đơn #123" }).waitFor();
		await page.locator("#contact-panel", { hasText: `@${customer.username}` }).waitFor();
		expect((await x.sandbox.postInboundDm({ to: accountUserId, from: customer, text: "Cho mình xin mã vận đơn nhé" })).status).toBe(200);
		await page.locator("#messages .msg.inbound", { hasText: "mã vận đơn" }).waitFor();
		await b.shot("inbox");
	});

	test("a reply typed in the inbox reaches the customer on X", async () => {
		const { page } = b;
		await page.locator("#reply-text").fill("Đơn của chị đang giao, mã vận đơn VN123.");
		await page.locator("form.reply button[type=submit]").click();
		await page.locator("#messages .msg.outbound", { hasText: "VN123" }).waitFor();
		await waitUntil(
			() => x.sandbox.received().some(dm => dm.recipientId === customer.id && dm.text.includes("VN123")),
			10_000,
			"the reply at X"
		);
		await b.shot("inbox-replied");
	});

	test("an API error is shown in words next to the field that caused it", async () => {
		const { page } = b;
		await page.goto(`${node.url}/console/#/flows`);
		await page
			.locator("#flow-form textarea")
			.fill(JSON.stringify({ name: "F", trigger: { type: "contact_created", config: {} }, nodes: [{ type: "wait" }] }));
		await page.locator("#flow-form button[type=submit]").click();
		const node0 = page.locator('#flow-nodes li[data-field="nodes[0]"] .field-error');
		// The console asks in its own language (Vietnamese by default): the rule in words, at the node.
		await expectText(node0, "phải là số giây nguyên");
		expect(await page.locator("#flow-form").innerText()).not.toContain('"errorCode"');
	});

	test("a campaign created in the console shows its launch numbers, starts and completes live", async () => {
		const { page } = b;
		const api = client(node.url, tokenFor(MERCHANT));
		expect((await api.post("/templates", { name: "Ưu đãi", type: "text", content: "Chào {{name}}, mã giảm giá {{code}}!" })).status).toBe(
			200
		);
		expect(
			(await api.post("/segments", { name: "Khách đã nhắn", conditions: [{ field: "optedOut", operator: "eq", value: false }] })).status
		).toBe(200);
		await page.goto(`${node.url}/console/#/campaigns/new`);
		await page.locator("#campaign-form input[name=name]").fill("Tết 2026");
		await page.locator("#campaign-form select[name=templateId]").selectOption({ label: "Ưu đãi" });
		await page.locator("#campaign-form select[name=segmentIds]").selectOption({ label: "Khách đã nhắn" });
		await page.locator("#campaign-form textarea[name=variables]").fill('{"code": "TET26"}');
		await page.locator("#campaign-form button[type=submit]").click();
		await expectText(page.locator("#preview-eligible"), "1");
		await page.locator('button[data-action="start"]').click();
		await expectText(page.locator("#campaign-status"), "hoàn tất");
		await expectText(page.locator('#campaign-metrics td[data-metric="Đã gửi"]'), "1");
		await waitUntil(
			() => x.sandbox.received().some(dm => dm.recipientId === customer.id && dm.text.includes("TET26")),
			10_000,
			"the campaign DM at X"
		);
		await b.shot("campaign-completed");
	});

	test("the analytics chart draws the day's conversations and campaigns", async () => {
		const { page } = b;
		await page.goto(`${node.url}/console/#/analytics`);
		const conversations = page.locator(".chart").nth(0);
		await conversations.locator("canvas").waitFor();
		await expectText(conversations.locator("table.chart-data tr").nth(1), "1");
		await page.locator(".chart").nth(2).locator("table.chart-data tr").nth(1).waitFor();
		await b.shot("analytics");
	});

	test("in English, at phone width, a viewer reads the inbox but gets no reply box", async () => {
		const { page } = b;
		await page.setViewportSize({ width: 390, height: 844 });
		await page.goto(`${node.url}/console/#/inbox`);
		await page.locator("select.lang").selectOption("en");
		await page.locator("button.link", { hasText: "Sign out" }).click();
		await page.locator("form.dev select[name=role]").selectOption("viewer");
		await page.locator("form.dev input[name=merchantId]").fill(MERCHANT);
		await page.locator("form.dev button[type=submit]").click();
		await page.locator("#conversation-list li", { hasText: customer.name }).click();
		await page.locator("#messages .msg.outbound", { hasText: "VN123" }).waitFor();
		expect(await page.locator("form.reply").isVisible()).toBe(false);
		await expectText(page.locator(".topbar nav"), "Inbox");
		await b.shot("inbox-phone-viewer");
	});
});

describe("/console without a browser", () => {
	test("every endpoint the console calls is in the OpenAPI document with that method", async () => {
		const doc = (await client(node.url).get("/openapi.json")).body;
		const missing = [...ENDPOINTS, `GET ${EVENTS_PATH}`].filter(endpoint => {
			const [method, path] = endpoint.split(" ");
			const openapiPath = `/api/v1/mkt-x${path.replace(/:(\w+)/g, "{$1}")}`;
			return !doc.paths[openapiPath]?.[method.toLowerCase()];
		});
		expect(missing).toEqual([]);
	});

	test("the development sign-in signs only well-formed ids and roles, and files outside the build are not served", async () => {
		const post = (body: unknown) =>
			fetch(`${node.url}/console/dev-token`, {
				method: "POST",
				headers: { "Content-Type": "application/json", "Accept-Language": "en" },
				body: JSON.stringify(body),
			});
		const bad = await post({ merchantId: "", userId: "u", role: "owner" });
		expect(bad.status).toBe(400);
		const body = await bad.json();
		expect(body).toMatchObject({ success: false, errorCode: "VALIDATION_ERROR" });
		expect(body.details.map((d: { field: string }) => d.field).sort()).toEqual(["merchantId", "role"]);
		const viewer = await (await post({ merchantId: MERCHANT, userId: "v-1", role: "viewer" })).json();
		const write = await client(node.url, viewer.data.token).post("/templates", { name: "x", type: "text", content: "x" });
		expect(write.status).toBe(403);
		for (const path of ["/console/../package.json", "/console/%2e%2e/package.json", "/console/.env", "/console/nope.js"]) {
			expect((await fetch(`${node.url}${path}`)).status).toBe(404);
		}
		expect((await fetch(`${node.url}/console/main.js`)).headers.get("content-type")).toContain("javascript");
	});
});

/** Waits for the element to hold the text (the page updates on its own). */
async function expectText(locator: import("playwright-core").Locator, text: string) {
	await locator
		.filter({ hasText: text })
		.first()
		.waitFor({ timeout: 15_000 })
		.catch(async err => {
			throw new Error(
				`expected "${text}" in ${locator}, found "${await locator
					.first()
					.innerText()
					.catch(() => "(nothing)")}": ${err.message}`
			);
		});
}
