import { createHmac } from "node:crypto";
import {
	authorizationHeader,
	baseStringUri,
	hmacSha1Signature,
	normalizeParameters,
	parseAuthorizationHeader,
	percentEncode,
	signatureBaseString,
	verifySignature,
	type Param,
} from "../../lib/x/oauth1.ts";
import { crcResponseToken, webhookSignature } from "../../sandbox/activity.ts";

// The sandbox's OAuth 1.0a verifier against published examples (X's "Creating a signature"
// page and RFC 5849), so it is not merely agreeing with twitter-api-v2.

describe("OAuth 1.0a HMAC-SHA1 (RFC 5849)", () => {
	// developer.x.com "Creating a signature": the documented request and its signature.
	const xExample = {
		url: new URL("https://api.twitter.com/1.1/statuses/update.json?include_entities=true"),
		form: [["status", "Hello Ladies + Gentlemen, a signed OAuth request!"]] as Param[],
		oauth: {
			oauth_consumer_key: "xvz1evFS4wEEPTGEFPHBog",
			oauth_nonce: "kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
			oauth_signature_method: "HMAC-SHA1",
			oauth_timestamp: "1318622958",
			oauth_token: "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
			oauth_version: "1.0",
		},
		consumerSecret: "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw",
		tokenSecret: "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
		signature: "hCtSmYh+iHYCEqBWrE7C7hYmtUk=",
	};

	test("X's documented example request gets X's documented signature", () => {
		const params: Param[] = [...xExample.url.searchParams.entries(), ...xExample.form, ...Object.entries(xExample.oauth)];
		const base = signatureBaseString("POST", xExample.url, params);
		expect(
			base.startsWith("POST&https%3A%2F%2Fapi.twitter.com%2F1.1%2Fstatuses%2Fupdate.json&include_entities%3Dtrue%26oauth_consumer_key")
		).toBe(true);
		expect(base).toContain("status%3DHello%2520Ladies%2520%252B%2520Gentlemen%252C%2520a%2520signed%2520OAuth%2520request%2521");
		expect(hmacSha1Signature(base, xExample.consumerSecret, xExample.tokenSecret)).toBe(xExample.signature);
	});

	test("the verifier accepts X's example and refuses it with a wrong secret or a changed parameter", () => {
		const oauth = { ...xExample.oauth, oauth_signature: xExample.signature };
		const req = { method: "POST", url: xExample.url, formParams: xExample.form, oauth };
		expect(verifySignature(req, xExample.consumerSecret, xExample.tokenSecret)).toBe(true);
		expect(verifySignature(req, "wrong-consumer-secret", xExample.tokenSecret)).toBe(false);
		expect(verifySignature(req, xExample.consumerSecret, "wrong-token-secret")).toBe(false);
		expect(
			verifySignature(
				{ ...req, formParams: [["status", "Hello Ladies + Gentlemen, a forged OAuth request!"]] },
				xExample.consumerSecret,
				xExample.tokenSecret
			)
		).toBe(false);
		expect(verifySignature({ ...req, method: "GET" }, xExample.consumerSecret, xExample.tokenSecret)).toBe(false);
		expect(
			verifySignature({ ...req, oauth: { ...oauth, oauth_signature_method: "PLAINTEXT" } }, xExample.consumerSecret, xExample.tokenSecret)
		).toBe(false);
	});

	test("parameters are normalized as in RFC 5849 §3.4.1.3.2 (encoded, then sorted by name and value)", () => {
		const url = new URL("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b");
		const params: Param[] = [
			...url.searchParams.entries(),
			...new URLSearchParams("c2&a3=2+q").entries(),
			["oauth_consumer_key", "9djdj82h48djs9d2"],
			["oauth_token", "kkk9d7dh3k39sjv7"],
			["oauth_signature_method", "HMAC-SHA1"],
			["oauth_timestamp", "137131201"],
			["oauth_nonce", "7d8f3e4a"],
		];
		expect(normalizeParameters(params)).toBe(
			"a2=r%20b&a3=2%20q&a3=a&b5=%3D%253D&c%40=&c2=&oauth_consumer_key=9djdj82h48djs9d2&oauth_nonce=7d8f3e4a&oauth_signature_method=HMAC-SHA1&oauth_timestamp=137131201&oauth_token=kkk9d7dh3k39sjv7"
		);
	});

	test("the base string URI drops the query and a default port, keeps another port, lowercases scheme and host", () => {
		expect(baseStringUri(new URL("HTTP://EXAMPLE.COM:80/r%20v/X?id=123"))).toBe("http://example.com/r%20v/X");
		expect(baseStringUri(new URL("https://www.example.net:8080/?q=1"))).toBe("https://www.example.net:8080/");
		expect(baseStringUri(new URL("https://127.0.0.1:443/2/users/me"))).toBe("https://127.0.0.1/2/users/me");
	});

	test("percent-encoding is RFC 3986's: reserved characters encoded, unreserved kept", () => {
		expect(percentEncode("Ladies + Gentlemen!*'()~._-")).toBe("Ladies%20%2B%20Gentlemen%21%2A%27%28%29~._-");
		expect(percentEncode("Đơn hàng")).toBe("%C4%90%C6%A1n%20h%C3%A0ng");
	});

	test("a header from our signer parses back and verifies; its signature is bound to method, URL and query", () => {
		const url = new URL("https://127.0.0.1:5443/2/users/me?user.fields=profile_image_url");
		const header = authorizationHeader({
			method: "GET",
			url,
			consumerKey: "ck",
			consumerSecret: "cs",
			token: "t",
			tokenSecret: "ts",
			nonce: "n1",
			timestamp: 1700000000,
		});
		const oauth = parseAuthorizationHeader(header)!;
		expect(oauth).toMatchObject({ oauth_consumer_key: "ck", oauth_token: "t", oauth_nonce: "n1", oauth_timestamp: "1700000000" });
		expect(verifySignature({ method: "GET", url, oauth }, "cs", "ts")).toBe(true);
		expect(verifySignature({ method: "GET", url: new URL("https://127.0.0.1:5443/2/users/me?user.fields=id"), oauth }, "cs", "ts")).toBe(
			false
		);
		expect(
			verifySignature({ method: "GET", url: new URL("https://127.0.0.1:5444/2/users/me?user.fields=profile_image_url"), oauth }, "cs", "ts")
		).toBe(false);
		expect(parseAuthorizationHeader("Bearer abc")).toBeNull();
		expect(parseAuthorizationHeader(undefined)).toBeNull();
	});
});

describe("X's webhook signatures", () => {
	test("x-twitter-webhooks-signature and the CRC answer are sha256= + base64 HMAC-SHA256 with the consumer secret", () => {
		const raw = '{"for_user_id":"1"}';
		const independent = (data: string) => "sha256=" + createHmac("sha256", "consumer-secret").update(data, "utf8").digest("base64");
		expect(webhookSignature("consumer-secret", raw)).toBe(independent(raw));
		expect(crcResponseToken("consumer-secret", "challenge")).toBe(independent("challenge"));
		expect(webhookSignature("consumer-secret", raw)).not.toBe(webhookSignature("another-secret", raw));
	});
});
