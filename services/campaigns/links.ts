import { createHmac } from "node:crypto";

// Click tracking: every http(s) link in a rendered campaign message is replaced by
// `<PUBLIC_BASE_URL>/r/<token>`, and GET /r/<token> redirects to the original. The token is a
// keyed hash of the delivery, the link's position and the URL: unguessable without the key,
// and the same when a message is prepared twice (writing its link row again changes nothing).

/** A link as written in a message: up to whitespace or a character that cannot end a URL here. */
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
/** Sentence punctuation after a link is not part of it ("… at https://shop.vn/sale.") */
const TRAILING = /[.,;:!?'"»…)\]}]+$/;

export const TOKEN_PATTERN = "^[A-Za-z0-9_-]{16,64}$";

export interface FoundLink {
	url: string;
	start: number;
	end: number;
}

export function findLinks(text: string): FoundLink[] {
	const found: FoundLink[] = [];
	for (const m of text.matchAll(LINK)) {
		let url = m[0];
		// Keep a closing parenthesis that closes one inside the URL (Wikipedia-style links).
		const trailing = TRAILING.exec(url);
		if (trailing) {
			let cut = trailing[0];
			while (
				cut.startsWith(")") &&
				(url.slice(0, url.length - cut.length).match(/\(/g)?.length ?? 0) >
					(url.slice(0, url.length - cut.length).match(/\)/g)?.length ?? 0)
			) {
				cut = cut.slice(1);
			}
			url = url.slice(0, url.length - cut.length);
		}
		if (/^https?:\/\/[^/?#]+/i.test(url)) found.push({ url, start: m.index!, end: m.index! + url.length });
	}
	return found;
}

export function trackingToken(key: Buffer, deliveryId: string, index: number, url: string): string {
	return createHmac("sha256", key).update(`${deliveryId}\n${index}\n${url}`).digest("base64url").slice(0, 22);
}

export interface TrackedText {
	text: string;
	links: { token: string; url: string }[];
}

/** Replaces each link with its tracking URL; `tokenOf` names the i-th link. */
export function rewriteLinks(text: string, baseUrl: string, tokenOf: (url: string, index: number) => string): TrackedText {
	const found = findLinks(text);
	if (!found.length) return { text, links: [] };
	const base = baseUrl.replace(/\/+$/, "");
	const links: TrackedText["links"] = [];
	let out = "";
	let at = 0;
	found.forEach((link, i) => {
		const token = tokenOf(link.url, i);
		links.push({ token, url: link.url });
		out += text.slice(at, link.start) + `${base}/r/${token}`;
		at = link.end;
	});
	return { text: out + text.slice(at), links };
}
