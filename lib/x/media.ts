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
	["::", 128],
	["::1", 128],
	["fc00::", 7],
	["fe80::", 10],
	["ff00::", 8],
	["64:ff9b::", 96],
	["2001:db8::", 32],
] as const) {
	privateRanges.addSubnet(net, prefix, "ipv6");
}

/** True for loopback, private, link-local, shared, multicast and reserved addresses (v4 and v6). */
export function isPrivateAddress(address: string): boolean {
	const family = isIP(address);
	if (family === 4) return privateRanges.check(address, "ipv4");
	if (family === 6) {
		const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
		if (mapped) return privateRanges.check(mapped[1], "ipv4");
		return privateRanges.check(address, "ipv6");
	}
	return true; // not an address at all: refuse
}

function refused(message: string): ValidationFailedError {
	return new ValidationFailedError([{ field: "mediaUrl", message }], `Media URL refused: ${message}`);
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
	if (bytes.length >= 12 && bytes.subarray(0, 4).toString("latin1") === "RIFF" && bytes.subarray(8, 12).toString("latin1") === "WEBP") return "image/webp";
	return null;
}

function get(url: URL, opts: MediaFetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
	const request = url.protocol === "https:" ? httpsRequest : httpRequest;
	return new Promise((resolve, reject) => {
		const req = request(url, { method: "GET", signal, lookup: guardedLookup(opts.allowPrivateHosts), headers: { accept: MEDIA_TYPES.join(", ") } }, resolve);
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
	let url: URL;
	try {
		url = new URL(rawUrl);
	} catch {
		throw refused("not a URL");
	}
	for (let hop = 0; ; hop++) {
		if (url.protocol !== "http:" && url.protocol !== "https:") throw refused("only http and https URLs are fetched");
		if (url.username || url.password) throw refused("credentials in the URL are not allowed");
		const literal = url.hostname.replace(/^\[|\]$/g, "");
		// An address literal never goes through lookup: check it here.
		if (isIP(literal) && isPrivateAddress(literal) && !opts.allowPrivateHosts) throw refused("private and loopback addresses are not fetched");

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
		const declared = String(res.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
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
