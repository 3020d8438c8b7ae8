import { Type } from "@sinclair/typebox";
import { createAjv, toDetails } from "../../lib/validator.ts";
import { paged } from "../../lib/pagination.ts";
import { localeOf, localize, catalogs } from "../../lib/i18n.ts";
import { decryptSecret, encryptSecret } from "../../lib/crypto.ts";
import { toErrorResponse } from "../../lib/http-errors.ts";
import { MemoryCounterStore } from "../../lib/rate-limit.ts";
import { NotFoundError, RateLimitedError, ValidationFailedError } from "../../lib/errors.ts";
import { loadConfig, ConfigError } from "../../lib/config.ts";
import { isWithinBusinessHours, businessHoursProblems } from "../../services/accounts/business-hours.ts";

describe("validator details", () => {
	const ajv = createAjv();
	const schema = Type.Object(
		{
			templateId: Type.String({ format: "uuid" }),
			segmentIds: Type.Array(Type.String(), { minItems: 1 }),
			schedule: Type.Object({ startAt: Type.String({ format: "date-time" }) }),
			nodes: Type.Array(Type.Object({ templateId: Type.String() })),
		},
		{ additionalProperties: false }
	);
	test("names nested fields with dots and array indexes, every problem at once", () => {
		const validate = ajv.compile(schema);
		validate({ segmentIds: [], schedule: { startAt: "tomorrow" }, nodes: [{}, {}, { templateId: 5 }], extra: 1 });
		const details = toDetails(validate.errors);
		expect(details).toEqual(
			expect.arrayContaining([
				{ field: "templateId", message: "is required" },
				{ field: "segmentIds", message: "must have at least 1 item" },
				{ field: "schedule.startAt", message: "must be a valid date-time" },
				{ field: "nodes[0].templateId", message: "is required" },
				{ field: "extra", message: "is not allowed" },
			])
		);
	});
});

test("pagination reports page, limit, total and totalPages", () => {
	expect(paged([], 1234, { skip: 0, take: 20 }).pagination).toEqual({ page: 1, limit: 20, total: 1234, totalPages: 62 });
	expect(paged([], 7, { skip: 6, take: 3 }).pagination).toEqual({ page: 3, limit: 3, total: 7, totalPages: 3 });
});

describe("languages", () => {
	test.each([
		[undefined, "vi"],
		["en-US,en;q=0.9", "en"],
		["fr-FR, en;q=0.5", "en"],
		["fr", "vi"],
		["en;q=0.2, vi;q=0.8", "vi"],
	])("Accept-Language %s → %s", (header, expected) => expect(localeOf(header)).toBe(expected));

	test("every error code has a Vietnamese and an English message", () => {
		expect(Object.keys(catalogs.vi).sort()).toEqual(Object.keys(catalogs.en).sort());
		expect(localize("NOT_FOUND", "vi", "Account not found")).toBe(catalogs.vi.NOT_FOUND);
		expect(localize("NOT_FOUND", "en", "Account not found")).toBe("Account not found");
	});
});

test("secrets round-trip through AES-256-GCM and a tampered one is refused", () => {
	const key = Buffer.alloc(32, 7);
	const stored = encryptSecret("oauth-secret-value", key);
	expect(stored).not.toContain("oauth-secret-value");
	expect(decryptSecret(stored, key)).toBe("oauth-secret-value");
	const parts = stored.split(":");
	parts[3] = Buffer.from("x" + Buffer.from(parts[3], "base64url").toString()).toString("base64url");
	expect(() => decryptSecret(parts.join(":"), key)).toThrow();
	expect(() => decryptSecret(stored, Buffer.alloc(32, 8))).toThrow();
});

describe("error responses", () => {
	test("a caller's mistake keeps code, message and details", () => {
		const r = toErrorResponse(new ValidationFailedError([{ field: "a", message: "is required" }]), "en");
		expect(r).toEqual({
			status: 422,
			headers: {},
			body: {
				success: false,
				error: "Validation failed",
				errorCode: "VALIDATION_ERROR",
				details: [{ field: "a", message: "is required" }],
			},
		});
		expect(toErrorResponse(new NotFoundError("Contact"), "en").body.error).toBe("Contact not found");
	});
	test("429 carries Retry-After", () => {
		const r = toErrorResponse(new RateLimitedError("slow down", 12.2));
		expect(r.status).toBe(429);
		expect(r.headers["Retry-After"]).toBe("13");
	});
	test("anything unexpected is a 500 that says nothing of the inside", () => {
		const r = toErrorResponse(new TypeError("Cannot read properties of undefined (reading 'secret')"), "en");
		expect(r.status).toBe(500);
		expect(r.body).toEqual({ success: false, error: "Internal server error", errorCode: "INTERNAL_ERROR" });
	});
});

test("memory counter: a fixed window, then a fresh one", async () => {
	const store = new MemoryCounterStore();
	const t0 = 1_000_000_000_000;
	const hits = [];
	for (let i = 0; i < 3; i++) hits.push(await store.hit("k", 2, 60_000, { now: t0 }));
	expect(hits.map(h => [h.allowed, h.remaining])).toEqual([
		[true, 1],
		[true, 0],
		[false, 0],
	]);
	// the window slides in 1/60 steps: hits of t0's second count until t0 + 61 s
	expect((await store.hit("k", 2, 60_000, { now: t0 + 60_000 })).allowed).toBe(false);
	expect((await store.hit("k", 2, 60_000, { now: t0 + 61_000 })).allowed).toBe(true);
	// a batch that does not fit counts nothing
	expect((await store.hit("k", 2, 60_000, { now: t0 + 61_000, cost: 5 })).allowed).toBe(false);
	expect((await store.hit("k", 2, 60_000, { now: t0 + 61_000 })).remaining).toBe(0);
});

describe("configuration", () => {
	test("production refuses to start without secrets, with one clear message", () => {
		expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(ConfigError);
		expect(() => loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", ENCRYPTION_KEY: "abc" })).toThrow(/ENCRYPTION_KEY must be 32 bytes/);
		expect(loadConfig({ NODE_ENV: "production", JWT_SECRET: "s", ENCRYPTION_KEY: "ab".repeat(32) }).port).toBe(5000);
	});
	test("numbers are checked", () => {
		expect(() => loadConfig({ PORT: "abc" })).toThrow(/PORT must be a whole number/);
	});
});

describe("business hours", () => {
	const hours = { enabled: true, timezone: "Asia/Ho_Chi_Minh", schedule: { monday: { start: "09:00", end: "18:00" } } };
	test("read in the account's timezone", () => {
		// Monday 2026-01-19 02:30 UTC is 09:30 in Ho Chi Minh City (UTC+7)
		expect(isWithinBusinessHours(hours, new Date("2026-01-19T02:30:00Z"))).toBe(true);
		expect(isWithinBusinessHours(hours, new Date("2026-01-19T01:30:00Z"))).toBe(false);
		expect(isWithinBusinessHours(hours, new Date("2026-01-20T02:30:00Z"))).toBe(false); // Tuesday: no hours
	});
	test("bad zone and reversed hours are named", () => {
		expect(businessHoursProblems({ timezone: "Mars/Base", schedule: { friday: { start: "18:00", end: "09:00" } } })).toEqual([
			{ field: "businessHours.timezone", message: "must be an IANA timezone such as Asia/Ho_Chi_Minh" },
			{ field: "businessHours.schedule.friday", message: "start must be before end" },
		]);
	});
});
