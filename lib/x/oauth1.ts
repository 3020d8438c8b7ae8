import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

// OAuth 1.0a HMAC-SHA1 as RFC 5849 §3.4 writes it, independent of twitter-api-v2: the X sandbox
// verifies with it what the library signed, so a mistake in either one shows up in the tests.

/** RFC 3986 percent-encoding (§3.6): everything but ALPHA, DIGIT, "-", ".", "_", "~". */
export function percentEncode(value: string): string {
	return encodeURIComponent(value).replace(/[!'()*]/g, c => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The base string URI (§3.4.1.2): lowercase scheme and host, default port dropped, no query. */
export function baseStringUri(url: URL): string {
	const scheme = url.protocol.toLowerCase();
	const defaultPort = (scheme === "https:" && url.port === "443") || (scheme === "http:" && url.port === "80");
	const port = url.port && !defaultPort ? `:${url.port}` : "";
	return `${scheme}//${url.hostname.toLowerCase()}${port}${url.pathname}`;
}

export type Param = [string, string];

/** The normalized parameters (§3.4.1.3.2): encoded, sorted by name then value, joined. */
export function normalizeParameters(params: Param[]): string {
	return params
		.map(([k, v]) => [percentEncode(k), percentEncode(v)] as const)
		.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
		.map(([k, v]) => `${k}=${v}`)
		.join("&");
}

export function signatureBaseString(method: string, url: URL, params: Param[]): string {
	return [method.toUpperCase(), percentEncode(baseStringUri(url)), percentEncode(normalizeParameters(params))].join("&");
}

export function hmacSha1Signature(baseString: string, consumerSecret: string, tokenSecret: string): string {
	return createHmac("sha1", `${percentEncode(consumerSecret)}&${percentEncode(tokenSecret)}`)
		.update(baseString)
		.digest("base64");
}

/** The oauth_* parameters of an `Authorization: OAuth ...` header (§3.5.1), decoded; null if none. */
export function parseAuthorizationHeader(header: string | undefined): Record<string, string> | null {
	if (!header || !/^OAuth\s+/i.test(header)) return null;
	const out: Record<string, string> = {};
	const re = /([A-Za-z0-9_%.~-]+)="([^"]*)"/g;
	for (let m = re.exec(header); m; m = re.exec(header)) {
		try {
			out[decodeURIComponent(m[1])] = decodeURIComponent(m[2]);
		} catch {
			return null;
		}
	}
	return out;
}

export interface SignedRequest {
	method: string;
	/** The full URL requested, query included. */
	url: URL;
	/** Body parameters, only for an application/x-www-form-urlencoded body (§3.4.1.3.1). */
	formParams?: Param[];
	/** The oauth_* parameters from the Authorization header. */
	oauth: Record<string, string>;
}

/** Every parameter that goes into the signature: query, form body, oauth_* without the signature and realm. */
export function signedParameters(req: Omit<SignedRequest, "oauth"> & { oauth: Record<string, string> }): Param[] {
	const params: Param[] = [...req.url.searchParams.entries()];
	if (req.formParams) params.push(...req.formParams);
	for (const [k, v] of Object.entries(req.oauth)) if (k !== "oauth_signature" && k !== "realm") params.push([k, v]);
	return params;
}

/** True when the request's oauth_signature is the HMAC-SHA1 of its base string with these secrets. */
export function verifySignature(req: SignedRequest, consumerSecret: string, tokenSecret: string): boolean {
	const given = req.oauth.oauth_signature;
	if (!given || req.oauth.oauth_signature_method !== "HMAC-SHA1") return false;
	const expected = hmacSha1Signature(signatureBaseString(req.method, req.url, signedParameters(req)), consumerSecret, tokenSecret);
	const a = Buffer.from(given);
	const b = Buffer.from(expected);
	return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Signs a request and returns its Authorization header: what tests use to make a request the
 * library would not make (wrong secret, replayed nonce).
 */
export function authorizationHeader(opts: {
	method: string;
	url: URL;
	formParams?: Param[];
	consumerKey: string;
	consumerSecret: string;
	token: string;
	tokenSecret: string;
	nonce?: string;
	timestamp?: number;
}): string {
	const oauth: Record<string, string> = {
		oauth_consumer_key: opts.consumerKey,
		oauth_nonce: opts.nonce ?? randomBytes(16).toString("hex"),
		oauth_signature_method: "HMAC-SHA1",
		oauth_timestamp: String(opts.timestamp ?? Math.floor(Date.now() / 1000)),
		oauth_token: opts.token,
		oauth_version: "1.0",
	};
	const base = signatureBaseString(
		opts.method,
		opts.url,
		signedParameters({ method: opts.method, url: opts.url, formParams: opts.formParams, oauth })
	);
	oauth.oauth_signature = hmacSha1Signature(base, opts.consumerSecret, opts.tokenSecret);
	return (
		"OAuth " +
		Object.entries(oauth)
			.map(([k, v]) => `${percentEncode(k)}="${percentEncode(v)}"`)
			.join(", ")
	);
}
