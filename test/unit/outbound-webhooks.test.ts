import { createHmac } from "node:crypto";
import {
	backoffMs,
	parseRetryAfter,
	verdict,
	RETRY_WINDOW_MS,
	MAX_DELAY_MS,
	type PostOutcome,
} from "../../services/outbound-webhooks/backoff.ts";
import { signatureHeader, signPayload } from "../../services/outbound-webhooks/sign.ts";
import { orderKeyOf, outboundEvent, SOURCE_EVENTS, PUBLIC_EVENTS } from "../../services/outbound-webhooks/events.ts";
import { guardedLookup, PrivateTargetError } from "../../services/outbound-webhooks/target.ts";

const answer = (statusCode: number | null, retryAfterSeconds: number | null = null): PostOutcome => ({
	statusCode,
	latencyMs: 1,
	error: statusCode === null ? "ECONNRESET" : null,
	retryAfterSeconds,
});
const t0 = new Date("2025-01-01T00:00:00Z");
const plus = (ms: number) => new Date(t0.getTime() + ms);

describe("backoff", () => {
	test("doubles from 5 s up to an hour, jittered within the upper half", () => {
		expect(backoffMs(1, () => 0)).toBe(2_500);
		expect(backoffMs(1, () => 1)).toBe(5_000);
		expect(backoffMs(3, () => 1)).toBe(20_000);
		expect(backoffMs(30, () => 1)).toBe(MAX_DELAY_MS);
		expect(backoffMs(30, () => 0)).toBe(MAX_DELAY_MS / 2);
	});

	test("Retry-After as seconds or an HTTP date", () => {
		expect(parseRetryAfter("120", t0.getTime())).toBe(120);
		expect(parseRetryAfter(new Date(t0.getTime() + 30_000).toUTCString(), t0.getTime())).toBe(30);
		expect(parseRetryAfter("soon", t0.getTime())).toBeNull();
		expect(parseRetryAfter(undefined, t0.getTime())).toBeNull();
	});

	test("2xx delivers; 5xx, 429 and no answer retry; other answers are final", () => {
		expect(verdict(answer(204), 1, t0, t0).kind).toBe("delivered");
		for (const o of [answer(500), answer(503), answer(429), answer(null)])
			expect(verdict(o, 1, t0, t0, () => 1)).toEqual({ kind: "retry", at: plus(5_000) });
		for (const code of [301, 400, 401, 404, 410]) expect(verdict(answer(code), 1, t0, t0).kind).toBe("failed");
	});

	test("Retry-After wins over the backoff; no retry goes past the 24 h window, the last one lands on its end", () => {
		expect(verdict(answer(429, 120), 1, t0, t0)).toEqual({ kind: "retry", at: plus(120_000) });
		expect(verdict(answer(500), 20, t0, plus(RETRY_WINDOW_MS - 60_000), () => 1)).toEqual({ kind: "retry", at: plus(RETRY_WINDOW_MS) });
		expect(verdict(answer(500), 21, t0, plus(RETRY_WINDOW_MS)).kind).toBe("failed");
	});
});

describe("signature", () => {
	test("hex HMAC-SHA256 of timestamp.body, one per valid secret", () => {
		const body = '{"id":"evt_1"}';
		const expected = createHmac("sha256", "whsec_a").update(`1700000000.${body}`).digest("hex");
		expect(signPayload("whsec_a", 1700000000, body)).toBe(expected);
		expect(signatureHeader(["whsec_a"], 1700000000, body)).toBe(`sha256=${expected}`);
		expect(signatureHeader(["whsec_b", "whsec_a"], 1700000000, body).split(",")[1]).toBe(`sha256=${expected}`);
	});
});

describe("events", () => {
	test("every public event has a source, and the merchant moves to the envelope", () => {
		expect([...new Set(Object.values(SOURCE_EVENTS))].sort()).toEqual([...PUBLIC_EVENTS].sort());
		const e = outboundEvent("contact.optedOut", "contact.opted_out", { merchantId: "m1", contactId: "c1", at: "x" }, t0);
		expect(e).toEqual({
			id: expect.stringMatching(/^evt_/),
			type: "contact.opted_out",
			createdAt: t0.toISOString(),
			merchantId: "m1",
			data: { contactId: "c1", at: "x" },
		});
		expect(outboundEvent("contact.optedOut", "contact.opted_out", { merchantId: "m1", contactId: "c1", at: "x" }, plus(5)).id).toBe(e.id);
	});

	test("order is kept per conversation, else campaign, else contact", () => {
		expect(orderKeyOf({ conversationId: "v", contactId: "c" })).toBe("conversation:v");
		expect(orderKeyOf({ campaignId: "k" })).toBe("campaign:k");
		expect(orderKeyOf({ contactId: "c" })).toBe("contact:c");
		expect(orderKeyOf({ subscriptionId: "s" })).toBeNull();
	});
});

describe("guardedLookup", () => {
	const resolve = (allowPrivateHosts: boolean) =>
		new Promise<{ err: NodeJS.ErrnoException | null; address: string }>(r =>
			guardedLookup({ allowPrivateHosts })("localhost", { family: 4 }, (err, address) => r({ err, address: String(address) }))
		);

	test("refuses a name that resolves to a loopback address, unless private hosts are allowed", async () => {
		const refused = await resolve(false);
		expect(refused.err).toBeInstanceOf(PrivateTargetError);
		const allowed = await resolve(true);
		expect(allowed.err).toBeNull();
		expect(allowed.address).toBe("127.0.0.1");
	});
});
