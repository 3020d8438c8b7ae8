import { lookup as dnsLookup, promises as dns, type LookupAddress } from "node:dns";
import { isIP, type LookupFunction } from "node:net";
import { isPrivateAddress } from "../../lib/x/media.ts";

// Where a merchant may send our events: an https URL on a public address. The address rule is
// the media fetch's (lib/x/media.ts), checked when the subscription is saved and again on the
// address each delivery actually connects to, so a DNS answer that changes cannot point inside.

export interface TargetRules {
	/** Tests: loopback and private addresses, and http to loopback, are accepted. */
	allowPrivateHosts: boolean;
}

const isLoopbackName = (host: string) => host === "localhost" || host.endsWith(".localhost");
const literalOf = (hostname: string) => hostname.replace(/^\[|\]$/g, "");

/** Why the URL is refused (for `details[].message`), or null when it is acceptable as far as can be told before sending. */
export async function targetProblem(raw: string, rules: TargetRules): Promise<string | null> {
	let url: URL;
	try {
		url = new URL(raw);
	} catch {
		return "is not a URL";
	}
	const host = literalOf(url.hostname).toLowerCase();
	const loopback = isLoopbackName(host) || (isIP(host) !== 0 && /^(127\.|::1$|::ffff:127\.)/.test(host));
	if (url.protocol === "http:") {
		if (!(rules.allowPrivateHosts && loopback)) return "must be an https URL";
	} else if (url.protocol !== "https:") return "must be an https URL";
	if (url.username || url.password) return "must not carry credentials";
	if (url.hash) return "must not have a fragment";
	if (rules.allowPrivateHosts) return null;
	if (isIP(host)) return isPrivateAddress(host) ? "points to a private, loopback or link-local address" : null;
	if (isLoopbackName(host)) return "points to a private, loopback or link-local address";
	// An unresolvable name is accepted (DNS may be down for a moment); each delivery checks again.
	const answers = await Promise.race([
		dns.lookup(host, { all: true }).catch(() => [] as LookupAddress[]),
		new Promise<LookupAddress[]>(r => setTimeout(() => r([]), 2000).unref()),
	]);
	return answers.some(a => isPrivateAddress(a.address)) ? "points to a private, loopback or link-local address" : null;
}

export class PrivateTargetError extends Error {}

/** True when a delivery may not connect to this URL's literal address (names go through `guardedLookup`). */
export function literalRefused(url: URL, rules: TargetRules): boolean {
	const host = literalOf(url.hostname);
	return !rules.allowPrivateHosts && isIP(host) !== 0 && isPrivateAddress(host);
}

/** dns.lookup that refuses private answers, so the socket connects only to an address we checked. */
export function guardedLookup(rules: TargetRules): LookupFunction {
	return (hostname, options, callback) => {
		dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
			if (err) return callback(err, "", 0);
			if (!rules.allowPrivateHosts && addresses.some(a => isPrivateAddress(a.address))) {
				return callback(new PrivateTargetError(`${hostname} resolves to a private address`), "", 0);
			}
			if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
			callback(null, addresses[0].address, addresses[0].family);
		});
	};
}
