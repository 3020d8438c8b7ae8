import { createHmac, randomBytes } from "node:crypto";

// The Stripe scheme: HMAC-SHA256 of "<timestamp>.<body>" in hex, so a receiver that checks the
// timestamp refuses replays. While a rotation's grace period runs, the header carries one
// signature per valid secret ("sha256=<new>,sha256=<old>"); a receiver accepts any match.

export const SECRET_PREFIX = "whsec_";

export function newSecret(): string {
	return SECRET_PREFIX + randomBytes(32).toString("base64url");
}

export function signPayload(secret: string, timestamp: number, body: string): string {
	return createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex");
}

export function signatureHeader(secrets: string[], timestamp: number, body: string): string {
	return secrets.map(s => `sha256=${signPayload(s, timestamp, body)}`).join(",");
}
