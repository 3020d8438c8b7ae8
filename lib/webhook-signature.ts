import { createHmac, timingSafeEqual } from "node:crypto";

// X's webhook security: the CRC answer and the signature of each delivery are both
// base64(HMAC-SHA256(app consumer secret, …)), prefixed "sha256=".

export function signWebhook(consumerSecret: string, data: string | Buffer): string {
	return `sha256=${createHmac("sha256", consumerSecret).update(data).digest("base64")}`;
}

export function crcResponseToken(consumerSecret: string, crcToken: string): string {
	return signWebhook(consumerSecret, crcToken);
}

/** Constant-time check of `x-twitter-webhooks-signature` against the raw body. */
export function verifyWebhookSignature(consumerSecret: string, rawBody: Buffer, header: unknown): boolean {
	if (!consumerSecret || typeof header !== "string" || !header.startsWith("sha256=")) return false;
	const expected = Buffer.from(signWebhook(consumerSecret, rawBody));
	const given = Buffer.from(header);
	return expected.length === given.length && timingSafeEqual(expected, given);
}
