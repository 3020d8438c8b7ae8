import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { BlockList, isIP, type LookupFunction } from "node:net";
import { ValidationFailedError } from "../errors.ts";

// An image to attach to a DM, fetched from a URL a merchant gave: http(s) only, no private or
// loopback address (checked on the address actually connected to, so a DNS answer cannot
// point us inside), a size cap enforced while reading, an image content type whose bytes agree,
// and a deadline for the whole fetch, redirects included.

export const MEDIA_TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"] as const;
export type MediaType = (typeof MEDIA_TYPES)[number];

export interface FetchedMedia {
	bytes: Buffer;
	mediaType: MediaType;
}

export interface MediaFetchOptions {
	maxBytes: number;
	timeoutMs: number;
	/** Tests fetch from 127.0.0.1; production never should. */
	allowPrivateHosts: boolean;
	maxRedirects?: number;
}

const privateRanges = new BlockList();
for (const [net, prefix] of [
	["0.0.0.0", 8],
	["10.0.0.0", 8],
	["100.64.0.0", 10],
	["127.0.0.0", 8],
	["169.254.0.0", 16],
	["172.16.0.0", 12],
	["192.0.0.0", 24],
	["192.0.2.0", 24],
	["192.168.0.0", 16],
	["198.18.0.0", 15],
	["198.51.100.0", 24],
	["203.0.113.0", 24],
	["224.0.0.0", 4],
	["240.0.0.0", 4],
] as const) {
	privateRanges.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
	["::", 96], // unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d
	["100::", 64], // discard
	["2001::", 32], // Teredo: tunnels to an IPv4 address of its choice
	["2001:db8::", 32],
	["fc00::", 7],
	["fe80::", 10],
	["fec0::", 10], // deprecated site-local
	["ff00::", 8],
	["64:ff9b::", 96], // NAT64 to any IPv4, public or not
	["64:ff9b:1::", 48],
] as const) {
	privateRanges.addSubnet(net, prefix, "ipv6");
}

/** The eight 16-bit groups of a valid IPv6 address (any textual form, a trailing a.b.c.d included). */
function ipv6Groups(address: string): number[] {
	let text = address.toLowerCase().replace(/%.*$/, "");
	const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
	if (dotted) {
		const [a, b, c, d] = dotted[2].split(".").map(Number);
		text = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
	}
	const [head, tail] = text.split("::");
	const left = head ? head.split(":") : [];
	const right = tail ? tail.split(":") : [];
	const zeros = tail === undefined ? [] : Array(8 - left.length - right.length).fill("0");
	return [...left, ...zeros, ...right].map(g => parseInt(g, 16));
}

/** The IPv4 address an IPv6 one stands for (mapped, translated, 6to4), if any. */
function embeddedIpv4(groups: number[]): string | null {
	const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
	const zero = (from: number, to: number) => groups.slice(from, to).every(g => g === 0);
	if (zero(0, 5) && groups[5] === 0xffff) return v4(groups[6], groups[7]); // ::ffff:a.b.c.d
	if (zero(0, 4) && groups[4] === 0xffff && groups[5] === 0) return v4(groups[6], groups[7]); // ::ffff:0:a.b.c.d
	if (groups[0] === 0x2002) return v4(groups[1], groups[2]); // 6to4
	return null;
}

/**
 * True for loopback, private, link-local, shared, multicast and reserved addresses (v4 and v6),
 * in any of their spellings: an IPv6 form that carries an IPv4 address is judged by that address.
 */
export function isPrivateAddress(address: string): boolean {
	const family = isIP(address.replace(/^\[|\]$/g, ""));
	const bare = address.replace(/^\[|\]$/g, "");
	if (family === 4) return privateRanges.check(bare, "ipv4");
	if (family === 6) {
		const groups = ipv6Groups(bare);
		const v4 = embeddedIpv4(groups);
		if (v4) return privateRanges.check(v4, "ipv4");
		return privateRanges.check(groups.map(g => g.toString(16)).join(":"), "ipv6");
	}
	return true; // not an address at all: refuse
}

function refused(message: string, field = "mediaUrl"): ValidationFailedError {
	return new ValidationFailedError([{ field, message }], `Media URL refused: ${message}`);
}

/** The checks that need no fetch: http(s), no credentials, not an address literal we refuse. */
function checkUrlShape(rawUrl: string | URL, allowPrivateHosts: boolean, field?: string): URL {
	let url: URL;
	try {
		url = new URL(rawUrl);
	} catch {
		throw refused("not a URL", field);
	}
	if (url.protocol !== "http:" && url.protocol !== "https:") throw refused("only http and https URLs are fetched", field);
	if (url.username || url.password) throw refused("credentials in the URL are not allowed", field);
	// The URL parser already turned decimal, octal and hex IPv4 forms into a.b.c.d.
	const literal = url.hostname.replace(/^\[|\]$/g, "");
	if (isIP(literal) && isPrivateAddress(literal) && !allowPrivateHosts)
		throw refused("private and loopback addresses are not fetched", field);
	return url;
}

/**
 * For a sender, before it stores anything: refuses (422 naming `field`) a URL the fetch would
 * refuse for its shape or its address, the host's DNS answers included. The fetch checks the
 * address it connects to again (a DNS answer may change in between).
 */
export async function checkMediaUrl(
	rawUrl: string,
	{ allowPrivateHosts = false, field = "mediaUrl" }: { allowPrivateHosts?: boolean; field?: string } = {}
): Promise<void> {
	const url = checkUrlShape(rawUrl, allowPrivateHosts, field);
	const host = url.hostname.replace(/^\[|\]$/g, "");
	if (allowPrivateHosts || isIP(host)) return;
	const addresses = await new Promise<LookupAddress[]>(resolve =>
		dnsLookup(host, { all: true }, (err, found) => resolve(err ? [] : found))
	);
	// A name that does not resolve is left to the fetch (it fails there, with its reason).
	if (addresses.some(a => isPrivateAddress(a.address))) throw refused(`${host} resolves to a private address`, field);
}

class PrivateAddressError extends Error {}

/** dns.lookup that refuses private answers, so the socket connects only to an address we checked. */
function guardedLookup(allowPrivate: boolean): LookupFunction {
	return (hostname, options, callback) => {
		dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
			if (err) return callback(err, "", 0);
			const bad = addresses.find(a => isPrivateAddress(a.address));
			if (bad && !allowPrivate) return callback(new PrivateAddressError(`${hostname} resolves to a private address`), "", 0);
			if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
			callback(null, addresses[0].address, addresses[0].family);
		});
	};
}

/** The media type the bytes say they are, from their first bytes. */
export function sniffImageType(bytes: Buffer): MediaType | null {
	if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg";
	if (bytes.length >= 8 && bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "image/png";
	if (bytes.length >= 6 && /^GIF8[79]a$/.test(bytes.subarray(0, 6).toString("latin1"))) return "image/gif";
	if (bytes.length >= 12 && bytes.subarray(0, 4).toString("latin1") === "RIFF" && bytes.subarray(8, 12).toString("latin1") === "WEBP")
		return "image/webp";
	return null;
}

function get(url: URL, opts: MediaFetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
	const request = url.protocol === "https:" ? httpsRequest : httpRequest;
	return new Promise((resolve, reject) => {
		const req = request(
			url,
			{ method: "GET", signal, lookup: guardedLookup(opts.allowPrivateHosts), headers: { accept: MEDIA_TYPES.join(", ") } },
			resolve
		);
		req.on("error", reject);
		req.end();
	});
}

async function readCapped(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
	const chunks: Buffer[] = [];
	let total = 0;
	for await (const chunk of res) {
		total += (chunk as Buffer).length;
		if (total > maxBytes) {
			res.destroy();
			throw refused(`image is larger than ${maxBytes} bytes`);
		}
		chunks.push(chunk as Buffer);
	}
	return Buffer.concat(chunks);
}

export async function fetchMedia(rawUrl: string, opts: MediaFetchOptions): Promise<FetchedMedia> {
	const signal = AbortSignal.timeout(opts.timeoutMs);
	let url = checkUrlShape(rawUrl, opts.allowPrivateHosts);
	for (let hop = 0; ; hop++) {
		// An address literal never goes through lookup: checked here, on every hop.
		if (hop > 0) url = checkUrlShape(url, opts.allowPrivateHosts);

		let res: IncomingMessage;
		try {
			res = await get(url, opts, signal);
		} catch (err) {
			if (err instanceof PrivateAddressError) throw refused("private and loopback addresses are not fetched");
			if (signal.aborted) throw refused(`no answer within ${opts.timeoutMs} ms`);
			throw refused(`could not be fetched (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
		}

		const status = res.statusCode ?? 0;
		if (status >= 300 && status < 400 && res.headers.location) {
			res.resume();
			if (hop >= (opts.maxRedirects ?? 3)) throw refused("too many redirects");
			url = new URL(res.headers.location, url);
			continue;
		}
		if (status !== 200) {
			res.resume();
			throw refused(`answered HTTP ${status}`);
		}
		const declared = String(res.headers["content-type"] ?? "")
			.split(";")[0]
			.trim()
			.toLowerCase();
		if (!(MEDIA_TYPES as readonly string[]).includes(declared)) {
			res.resume();
			throw refused(`content type "${declared || "none"}" is not one of ${MEDIA_TYPES.join(", ")}`);
		}
		const length = Number(res.headers["content-length"]);
		if (Number.isFinite(length) && length > opts.maxBytes) {
			res.destroy();
			throw refused(`image is larger than ${opts.maxBytes} bytes`);
		}
		let bytes: Buffer;
		try {
			bytes = await readCapped(res, opts.maxBytes);
		} catch (err) {
			if (err instanceof ValidationFailedError) throw err;
			throw refused(signal.aborted ? `no answer within ${opts.timeoutMs} ms` : "the download was cut");
		}
		const sniffed = sniffImageType(bytes);
		if (sniffed !== declared) throw refused(`the bytes are not a ${declared}`);
		return { bytes, mediaType: sniffed };
	}
}
