import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";

useFreshDatabase("templates");

const M1 = "merchant-templates-1";
const M2 = "merchant-templates-2";

let node: TestNode;
let api: ReturnType<typeof client>;
let other: ReturnType<typeof client>;
/** templates that the fake campaigns service says are in use */
const inUse = new Set<string>();

beforeAll(async () => {
	node = await startNode({ services: ["api", "contacts", "templates"], overrides: { api: { settings: { rateLimitPerMinute: 10_000 } } } });
	// stands in for the campaigns service, which answers templateInUse for its active campaigns
	node.broker.createService({
		name: "campaigns",
		actions: {
			templateInUse: {
				visibility: "public",
				handler: (ctx: { params: { templateId: string } }) =>
					inUse.has(ctx.params.templateId)
						? { inUse: true, usedBy: [{ kind: "campaign", id: "c-1", name: "Tết sale", status: "running" }] }
						: { inUse: false },
			},
		},
	});
	await node.broker.waitForServices(["campaigns"]);
	api = client(node.url, tokenFor(M1));
	other = client(node.url, tokenFor(M2));
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const welcome = {
	name: "Tin Nhắn Chào Mừng",
	type: "text",
	content: "Chào {{name}}, chào mừng đến {{shop_name}}! Sử dụng mã {{discount_code}} để được giảm giá 10% cho đơn hàng đầu tiên.",
	variables: ["name", "shop_name", "discount_code"],
};

async function create(body: Record<string, unknown>, as = api) {
	const res = await as.post("/templates", body);
	expect(res.status).toBe(200);
	return res.body.data as { id: string } & Record<string, unknown>;
}

describe("creating templates", () => {
	test("the contract's example is created as sent", async () => {
		const res = await api.post("/templates", welcome);
		expect(res.status).toBe(200);
		expect(res.body.data).toEqual({
			id: expect.any(String),
			merchantId: M1,
			...welcome,
			createdAt: expect.any(String),
			updatedAt: expect.any(String),
		});
	});

	test("a name is unique per merchant: 409 CONFLICT; another merchant may use it", async () => {
		const dup = await api.post("/templates", welcome);
		expect(dup.status).toBe(409);
		expect(dup.body).toMatchObject({ success: false, errorCode: "CONFLICT", details: { field: "name" } });
		await create(welcome, other);
	});

	test("declared variables must match the placeholders: 422 naming the difference", async () => {
		const res = await api.post("/templates", { ...welcome, name: "mismatch", variables: ["name", "shop_name", "coupon"] });
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.details).toEqual([
			{
				field: "variables",
				message: "used in the template but not declared: discount_code; declared but not used in the template: coupon",
			},
		]);
	});

	test("without variables they are read from the text", async () => {
		const t = await create({ name: "derived", content: "Hi {{name}}, code {{code}} for {{ attributes.tier }}" });
		expect(t).toMatchObject({ type: "text", variables: ["name", "code", "attributes.tier"] });
	});

	test("content over 10,000 characters is a 422 on content", async () => {
		const res = await api.post("/templates", { name: "long", content: "x".repeat(10_001) });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "content", message: "must be at most 10000 characters" }]);
	});

	test("a quick_reply has 1 to 20 options, a card at most 3 buttons, and parts of one type are refused on another", async () => {
		const options = Array.from({ length: 21 }, (_, i) => ({ label: `o${i}` }));
		expect((await api.post("/templates", { name: "qr", type: "quick_reply", content: "Q?", options })).body.details).toEqual([
			{ field: "options", message: "must have at most 20 items" },
		]);
		expect((await api.post("/templates", { name: "qr", type: "quick_reply", content: "Q?" })).status).toBe(422);
		const buttons = Array.from({ length: 4 }, (_, i) => ({ label: `b${i}`, url: "https://x.example.com" }));
		expect((await api.post("/templates", { name: "card", type: "card", card: { title: "T", buttons } })).body.details).toEqual([
			{ field: "card.buttons", message: "must have at most 3 items" },
		]);
		const mixed = await api.post("/templates", { name: "mixed", type: "text", content: "hi", options: [{ label: "a" }] });
		expect(mixed.status).toBe(422);
		expect(mixed.body.details).toEqual([{ field: "options", message: "only quick_reply templates have options" }]);
		const bad = await api.post("/templates", {
			name: "badurl",
			type: "card",
			card: { title: "T", buttons: [{ label: "x", url: "javascript:alert(1)" }] },
		});
		expect(bad.body.details).toEqual([{ field: "card.buttons[0].url", message: "must be an http(s) URL" }]);
	});
});

describe("listing and editing", () => {
	test("GET /templates filters by type and by name (literal text), paginated, own templates only", async () => {
		await create({ name: "Sale (50%) [today]", type: "quick_reply", content: "Chọn:", options: [{ label: "A" }] });
		await create({ name: "Sale tomorrow", content: "hi" });
		await create({ name: "Sale (50%) other merchant", content: "hi" }, other);
		const qr = await api.get("/templates?type=quick_reply");
		expect(qr.body.data.map((t: { name: string }) => t.name)).toEqual(["Sale (50%) [today]"]);
		const search = await api.get(`/templates?search=${encodeURIComponent("(50%) [")}`);
		expect(search.body.data.map((t: { name: string }) => t.name)).toEqual(["Sale (50%) [today]"]);
		const sale = await api.get("/templates?search=SALE&take=1");
		expect(sale.body.pagination).toEqual({ page: 1, limit: 1, total: 2, totalPages: 2 });
		expect((await api.get("/templates?type=email")).status).toBe(422);
	});

	test("the contract's update (name and content only) re-reads the variables from the new text", async () => {
		const t = await create({ ...welcome, name: "to update" });
		const res = await api.put(`/templates/${t.id}`, { name: "Tin Nhắn Chào Mừng Đã Cập Nhật", content: "Xin chào {{name}}!..." });
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({ name: "Tin Nhắn Chào Mừng Đã Cập Nhật", content: "Xin chào {{name}}!...", variables: ["name"] });
		expect((await api.get(`/templates/${t.id}`)).body.data.variables).toEqual(["name"]);
	});

	test("an update keeping the text checks given variables against it", async () => {
		const t = await create({ name: "keep text", content: "Hi {{code}}" });
		const res = await api.put(`/templates/${t.id}`, { variables: ["code", "extra"] });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "variables", message: "declared but not used in the template: extra" }]);
	});

	test("renaming onto a taken name is a 409", async () => {
		await create({ name: "taken", content: "x" });
		const t = await create({ name: "rename me", content: "x" });
		const res = await api.put(`/templates/${t.id}`, { name: "taken" });
		expect(res.status).toBe(409);
		expect(res.body.errorCode).toBe("CONFLICT");
		expect((await api.get(`/templates/${t.id}`)).body.data.name).toBe("rename me");
	});

	test("changing a quick_reply to text drops its options", async () => {
		const t = await create({ name: "qr to text", type: "quick_reply", content: "Q?", options: [{ label: "A" }] });
		const res = await api.put(`/templates/${t.id}`, { type: "text" });
		expect(res.status).toBe(200);
		expect(res.body.data.type).toBe("text");
		expect(res.body.data).not.toHaveProperty("options");
	});
});

describe("POST /templates/:id/preview", () => {
	test("renders the contract's example exactly", async () => {
		const t = await create({ ...welcome, name: "preview welcome" });
		const res = await api.post(`/templates/${t.id}/preview`, {
			variables: { name: "John", shop_name: "GoodGo Shop", discount_code: "WELCOME10" },
		});
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({
			rendered: "Chào John, chào mừng đến GoodGo Shop! Sử dụng mã WELCOME10 để được giảm giá 10% cho đơn hàng đầu tiên.",
			mediaUrl: null,
		});
	});

	test("a missing variable is a 422 listing every missing name", async () => {
		const t = await create({ ...welcome, name: "preview missing" });
		const res = await api.post(`/templates/${t.id}/preview`, { variables: { shop_name: "GoodGo" } });
		expect(res.status).toBe(422);
		expect(res.body.errorCode).toBe("VALIDATION_ERROR");
		expect(res.body.details).toEqual([
			{ field: "variables.name", message: "is required" },
			{ field: "variables.discount_code", message: "is required" },
		]);
	});

	test("with a contactId the built-ins come from that contact", async () => {
		const contact = await ContactModel.create({
			merchantId: M1,
			accountId: randomUUID(),
			twitterUserId: "tw-preview",
			username: "customer_john",
			displayName: "",
			attributes: { tier: "gold" },
		});
		const t = await create({ name: "builtins", content: "Hi {{name}} (@{{username}}), tier {{attributes.tier}}, code {{code}}" });
		const res = await api.post(`/templates/${t.id}/preview`, { contactId: contact._id, variables: { code: "X1" } });
		expect(res.status).toBe(200);
		expect(res.body.data.rendered).toBe("Hi customer_john (@customer_john), tier gold, code X1");
		const foreign = await other.post("/templates", { name: "foreign", content: "{{name}}" });
		const cross = await other.post(`/templates/${foreign.body.data.id}/preview`, { contactId: contact._id });
		expect(cross.status).toBe(422);
		expect(cross.body.details).toEqual([{ field: "contactId", message: "no such contact" }]);
	});

	test("a quick_reply and a card preview as the plain text X will carry", async () => {
		const qr = await create({
			name: "menu",
			type: "quick_reply",
			content: "Chào {{name}}, bạn cần gì?",
			options: [{ label: "Đơn hàng", description: "Tra cứu đơn" }, { label: "Tư vấn" }],
		});
		const r1 = await api.post(`/templates/${qr.id}/preview`, { variables: { name: "An" } });
		expect(r1.body.data.rendered).toBe("Chào An, bạn cần gì?\n\n1. Đơn hàng - Tra cứu đơn\n2. Tư vấn");
		const card = await create({
			name: "promo card",
			type: "card",
			card: {
				title: "Giảm {{pct}}%",
				text: "Chỉ hôm nay",
				imageUrl: "https://cdn.example.com/sale.png",
				buttons: [{ label: "Mua ngay", url: "https://shop.example.com/?c={{code}}" }],
			},
		});
		expect(card.variables).toEqual(["pct", "code"]);
		const r2 = await api.post(`/templates/${card.id}/preview`, { variables: { pct: 50, code: "A B" } });
		expect(r2.body.data).toMatchObject({
			rendered: "Giảm 50%\n\nChỉ hôm nay\n\nMua ngay: https://shop.example.com/?c=A%20B",
			mediaUrl: "https://cdn.example.com/sale.png",
		});
	});

	test("a variable value that is an object is a 422, not rendered", async () => {
		const t = await create({ name: "obj var", content: "{{a}}" });
		const res = await api.post(`/templates/${t.id}/preview`, { variables: { a: { $gt: "" } } });
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "variables.a", message: "must be a string, number or boolean" }]);
	});
});

describe("DELETE /templates/:id", () => {
	test("is a 409 TEMPLATE_IN_USE while an active campaign uses it, and deletes it once free", async () => {
		const t = await create({ name: "in use", content: "x" });
		inUse.add(t.id);
		const res = await api.del(`/templates/${t.id}`);
		expect(res.status).toBe(409);
		expect(res.body).toMatchObject({
			success: false,
			errorCode: "TEMPLATE_IN_USE",
			details: { usedBy: [{ kind: "campaign", id: "c-1", status: "running" }] },
		});
		expect(typeof res.body.error).toBe("string");
		const en = await api.request("DELETE", `/templates/${t.id}`, undefined, { "Accept-Language": "en" });
		expect(en.body.error).toBe("The template is used by an active campaign or flow");
		expect((await api.get(`/templates/${t.id}`)).status).toBe(200);
		inUse.delete(t.id);
		const ok = await api.del(`/templates/${t.id}`);
		expect(ok.status).toBe(200);
		expect(ok.body.data).toEqual({ id: t.id, deleted: true });
		expect((await api.get(`/templates/${t.id}`)).status).toBe(404);
	});
});

describe("tenancy", () => {
	test("every :id route answers 404 for another merchant's template", async () => {
		const t = await create({ name: "private", content: "{{a}}" });
		for (const res of [
			await other.get(`/templates/${t.id}`),
			await other.put(`/templates/${t.id}`, { content: "stolen" }),
			await other.post(`/templates/${t.id}/preview`, { variables: { a: 1 } }),
			await other.del(`/templates/${t.id}`),
		]) {
			expect(res.status).toBe(404);
			expect(res.body.errorCode).toBe("NOT_FOUND");
		}
		expect((await api.get(`/templates/${t.id}`)).body.data.content).toBe("{{a}}");
	});
});
