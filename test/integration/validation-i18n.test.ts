import { dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";

// Through the gateway: a 422 from Ajv (the action's params schema) and one from a service's own
// check, in Vietnamese when the caller says nothing and in English on request.

useFreshDatabase("validation_i18n");

let node: TestNode;
beforeAll(async () => {
	node = await startNode({ services: ["api", "accounts", "analytics"] });
});
afterAll(async () => {
	await node.stop();
	await dropDatabase();
});

const get = async (path: string, headers: Record<string, string> = {}) => {
	const res = await fetch(`${node.url}/api/v1/mkt-x${path}`, { headers: { Authorization: `Bearer ${tokenFor("m-i18n")}`, ...headers } });
	return { status: res.status, body: await res.json() };
};

test("Ajv's problems: Vietnamese by default, English on Accept-Language: en, the same fields and code", async () => {
	const vi = await get("/accounts?take=500&status=zz&foo=1");
	expect(vi.status).toBe(422);
	expect(vi.body.error).toBe("Dữ liệu không hợp lệ");
	expect(vi.body.errorCode).toBe("VALIDATION_ERROR");
	expect(vi.body.details).toEqual(
		expect.arrayContaining([
			{ field: "take", message: "take phải nhỏ hơn hoặc bằng 100" },
			{ field: "foo", message: "foo không được phép" },
			{ field: "status", message: expect.stringMatching(/^status phải là một trong: /) },
		])
	);
	const en = await get("/accounts?take=500&status=zz&foo=1", { "Accept-Language": "en" });
	expect(en.body.error).toBe("Validation failed");
	expect(en.body.details).toEqual(
		expect.arrayContaining([
			{ field: "take", message: "must be at most 100" },
			{ field: "foo", message: "is not allowed" },
		])
	);
	expect(en.body.details.map((d: { field: string }) => d.field).sort()).toEqual(
		vi.body.details.map((d: { field: string }) => d.field).sort()
	);
});

test("a service's own check is localized the same way", async () => {
	const vi = await get("/analytics/overview?startDate=2026-01-19&endDate=2026-01-18");
	expect(vi.status).toBe(422);
	expect(vi.body).toEqual({
		success: false,
		error: "Dữ liệu không hợp lệ",
		errorCode: "VALIDATION_ERROR",
		details: [{ field: "endDate", message: "endDate không được trước startDate" }],
	});
	const en = await get("/analytics/overview?startDate=2026-01-19&endDate=2026-01-18", { "Accept-Language": "en" });
	expect(en.body).toEqual({
		success: false,
		error: "Validation failed",
		errorCode: "VALIDATION_ERROR",
		details: [{ field: "endDate", message: "must not be before startDate" }],
	});
});
