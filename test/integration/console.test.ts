import { buildConsole } from "../../scripts/console-build.ts";
import { ENDPOINTS, EVENTS_PATH } from "../../console/src/endpoints.ts";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, waitUntil, type TestNode } from "../helpers/node.ts";
import { startTestSandbox, type TestSandbox } from "../helpers/x-sandbox.ts";
import { startBrowser, type TestBrowser } from "../helpers/browser.ts";
import { ContactModel } from "../../models/contact.model.ts";

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
	// The steps poll the API while the page calls it too: no rate limit to trip over here.
	node = await startNode({ overrides: { api: { settings: { rateLimitPerMinute: 100_000 } } } });
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

	test("the response-time chart draws the day of the reply with its seconds", async () => {
		const { page } = b;
		const api = client(node.url, tokenFor(MERCHANT));
		const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Ho_Chi_Minh" }).format(new Date());
		let day: { responses: number; averageResponseSeconds: number | null } = { responses: 0, averageResponseSeconds: null };
		await waitUntil(
			async () => {
				day = (await api.get(`/analytics/conversations?startDate=${today}&endDate=${today}`)).body.data.responseTimeTrend[0];
				return day.responses > 0;
			},
			15_000,
			"the reply counted by the analytics"
		);
		expect(typeof day.averageResponseSeconds).toBe("number");
		await page.goto(`${node.url}/console/#/analytics`);
		await page.locator("#analytics-period button[type=submit]").click(); // read again, now that the reply is counted
		const chart = page.locator(".chart", { hasText: "Thời gian phản hồi theo ngày" });
		await chart.locator("canvas").waitFor();
		const row = chart.locator("table.chart-data tr", { hasText: today });
		await expect(row.locator('td[data-key="averageResponseSeconds"]').getAttribute("data-value")).resolves.toBe(
			String(day.averageResponseSeconds)
		);
		await expectText(row.locator('td[data-key="responses"]'), String(day.responses));
		// The line has a point on the reply's day (the days without replies are gaps, not zeros).
		// A live update may redraw the screen meanwhile: the new box carries its count only once
		// its chart is drawn (next frame), so wait for it rather than read it once.
		await waitUntil(async () => Number(await chart.getAttribute("data-points")) >= 1, 10_000, "a drawn point on the reply's day");
		// Same for the table of the drawn chart.
		await waitUntil(
			async () => (await chart.locator("table.chart-data tr").count()) === 2,
			10_000,
			"the chart table's header and day rows"
		);
		await chart.scrollIntoViewIfNeeded();
		await b.shot("analytics-response-time");
	});

	test("editing a segment's condition in the builder changes its live count, and saving keeps it", async () => {
		const { page } = b;
		await seedContacts();
		const api = client(node.url, tokenFor(MERCHANT));
		const created = await api.post("/segments", { name: "Khách sỉ", conditions: [{ field: "tags", operator: "contains", value: "bulk" }] });
		expect(created.status).toBe(200);
		await page.goto(`${node.url}/console/#/templates`);
		await page.locator("#segment-list li", { hasText: "Khách sỉ" }).click();
		await expectText(page.locator("#segment-form-title"), "Khách sỉ");
		await expect(page.locator("#segment-form input[name=name]").inputValue()).resolves.toBe("Khách sỉ");
		await expectText(page.locator("#segment-count"), `${BULK} liên hệ`);
		await page.locator("#segment-form .condition input").nth(1).fill("even");
		await expectText(page.locator("#segment-count"), `${BULK / 2} liên hệ`);
		await b.shot("segment-edit");
		await page.locator("#segment-form button[type=submit]").click();
		await expectText(page.locator("#segment-list li", { hasText: "Khách sỉ" }), "tags contains even");
		const saved = (await api.get(`/segments/${created.body.data.id}`)).body.data;
		expect(saved.conditions).toEqual([{ field: "tags", operator: "contains", value: "even" }]);
		expect((await api.post(`/segments/${saved.id}/evaluate`, {})).body.data.contactCount).toBe(BULK / 2);
	});

	test("editing an inactive flow shows the API's validation error at its node; an active one says to deactivate it", async () => {
		const { page } = b;
		const api = client(node.url, tokenFor(MERCHANT));
		const definition = { name: "Nhắc lại", trigger: { type: "contact_created", config: {} }, nodes: [{ type: "wait", duration: 60 }] };
		const created = await api.post("/automation/flows", definition);
		expect(created.status).toBe(200);
		const id = created.body.data.id;
		await page.goto(`${node.url}/console/#/flows/${id}`);
		await page.locator("#flow-edit").click();
		await page.locator("#flow-form[data-mode=edit]").waitFor();
		const editor = page.locator("#flow-form textarea");
		await waitUntil(async () => (await editor.inputValue()).includes("Nhắc lại"), 10_000, "the editor prefilled with the flow");
		const edited = JSON.parse(await editor.inputValue());
		edited.nodes.push({ type: "wait" });
		await editor.fill(JSON.stringify(edited, null, 2));
		await page.locator("#flow-form button[type=submit]").click();
		await expectText(page.locator('#flow-nodes li[data-field="nodes[1]"] .field-error'), "phải là số giây nguyên");
		expect(await page.locator('#flow-nodes li[data-field="nodes[0]"] .field-error').innerText()).toBe("");
		await page.locator('#flow-nodes li[data-field="nodes[1]"]').scrollIntoViewIfNeeded();
		await b.shot("flow-edit-error");
		expect((await api.get(`/automation/flows/${id}`)).body.data.nodes).toHaveLength(1);

		edited.nodes[1].duration = 120;
		await editor.fill(JSON.stringify(edited, null, 2));
		await page.locator("#flow-form button[type=submit]").click();
		await page.locator("#flow-form[data-mode=create]").waitFor();
		expect((await api.get(`/automation/flows/${id}`)).body.data.nodes).toEqual([
			{ type: "wait", duration: 60 },
			{ type: "wait", duration: 120 },
		]);

		expect((await api.post(`/automation/flows/${id}/activate`, {})).status).toBe(200);
		await page.goto(`${node.url}/console/#/flows/${id}/edit`);
		await waitUntil(async () => (await editor.inputValue()).includes("Nhắc lại"), 10_000, "the editor prefilled with the flow");
		await page.locator("#flow-form button[type=submit]").click();
		await expectText(page.locator('#flow-form [data-field="status"] .field-error'), "hủy kích hoạt");
		expect((await api.post(`/automation/flows/${id}/deactivate`, {})).status).toBe(200);
	});

	test("contacts past the first 50: next and previous pages with the total, search and tag filter kept across pages", async () => {
		const { page } = b;
		await page.goto(`${node.url}/console/#/contacts`);
		const rows = page.locator("#contact-list tr[data-id]");
		// The customer of the inbox and the seeded ones.
		// Before the end of the list the API's total is a lower bound (the page's rows + 1).
		await expectText(page.locator("#contacts-page"), `Trang 1 · ít nhất 51 liên hệ`);
		expect(await rows.count()).toBe(50);
		expect(await page.locator("#contacts-prev").isDisabled()).toBe(true);
		await page.locator("#contacts-next").click();
		await expectText(page.locator("#contacts-page"), `Trang 2/2 · ${BULK + 1} liên hệ`);
		expect(await rows.count()).toBe(BULK + 1 - 50);
		expect(await page.locator("#contacts-next").isDisabled()).toBe(true);

		await page.locator("#contacts-filters input[name=search]").fill("bulk");
		await page.locator("#contacts-filters input[name=tags]").fill("even");
		await page.locator("#contacts-filters button[type=submit]").click();
		await expectText(page.locator("#contacts-page"), `Trang 1/1 · ${BULK / 2} liên hệ`);
		await page.locator("#contacts-filters input[name=tags]").fill("bulk");
		await page.locator("#contacts-filters button[type=submit]").click();
		await expectText(page.locator("#contacts-page"), `Trang 1 · ít nhất 51 liên hệ`);
		const first = await rows.evaluateAll(trs => trs.map(tr => tr.getAttribute("data-id")));
		await page.locator("#contacts-next").click();
		await expectText(page.locator("#contacts-page"), `Trang 2/2 · ${BULK} liên hệ`);
		const second = await rows.evaluateAll(trs => trs.map(tr => tr.getAttribute("data-id")));
		expect(second).toHaveLength(BULK - 50);
		expect(new Set([...first, ...second]).size).toBe(BULK);
		expect(await rows.allInnerTexts()).toEqual(second.map(() => expect.stringContaining("bulk")));

		// Opening a contact of page 2 keeps the page and its filters.
		await rows.first().click();
		await page.locator("#contact-detail", { hasText: "@bulk_" }).waitFor();
		await expectText(page.locator("#contacts-page"), `Trang 2/2 · ${BULK} liên hệ`);
		expect(await page.locator("#contacts-filters input[name=tags]").inputValue()).toBe("bulk");
		expect(await page.locator("#contacts-filters input[name=search]").inputValue()).toBe("bulk");
		await page.locator("#contacts-prev").click();
		await expectText(page.locator("#contacts-page"), `Trang 1 · ít nhất 51 liên hệ`);
		await b.shot("contacts-page-2");
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

/** More contacts than a page holds: tagged "bulk" (every second one "even"), older than the inbox's customer. */
const BULK = 60;
async function seedContacts() {
	const accountId = (await client(node.url, tokenFor(MERCHANT)).get("/accounts")).body.data[0].id;
	const old = Date.parse("2026-01-01T00:00:00Z");
	await ContactModel.insertMany(
		Array.from({ length: BULK }, (_x, i) => {
			const username = `bulk_${String(i).padStart(2, "0")}`;
			return {
				merchantId: MERCHANT,
				accountId,
				twitterUserId: `72000000${String(i).padStart(2, "0")}`,
				username,
				usernameLower: username,
				displayName: `Khách sỉ ${i}`,
				source: "manual",
				tags: i % 2 ? ["bulk"] : ["bulk", "even"],
				firstInteractionAt: new Date(old + i * 60_000),
				lastInteractionAt: new Date(old + i * 60_000),
			};
		})
	);
}

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
