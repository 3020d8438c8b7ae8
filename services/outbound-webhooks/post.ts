import { readFileSync } from "node:fs";
import { Agent as HttpAgent, request as httpRequest } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { rootCertificates } from "node:tls";
import { parseRetryAfter, type PostOutcome } from "./backoff.ts";
import { guardedLookup, literalRefused, PrivateTargetError, type TargetRules } from "./target.ts";

// One POST of one event: a deadline for the whole exchange, redirects never followed (a 3xx is
// an answer like any other), the body of the answer read and dropped, private addresses refused
// on the address actually connected to. Keep-alive agents per node so a busy subscription does
// not pay a TLS handshake per event.

export interface PosterOptions extends TargetRules {
	timeoutMs: number;
	/** PEM file of a CA trusted besides the system's. */
	caFile: string | null;
}

const MAX_RESPONSE_BYTES = 64 * 1024;

export interface Poster {
	post(url: string, body: string, headers: Record<string, string>, stop: AbortSignal): Promise<PostOutcome>;
	close(): void;
}

export function createPoster(opts: PosterOptions): Poster {
	const ca = opts.caFile ? [...rootCertificates, readFileSync(opts.caFile, "utf8")] : undefined;
	const lookup = guardedLookup(opts);
	const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 50, ca });
	const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 50 });

	async function post(rawUrl: string, body: string, headers: Record<string, string>, stop: AbortSignal): Promise<PostOutcome> {
		const started = performance.now();
		const elapsed = () => Math.round(performance.now() - started);
		const url = new URL(rawUrl);
		if (literalRefused(url, opts)) return { statusCode: null, latencyMs: 0, error: "private address refused", retryAfterSeconds: null };
		const deadline = AbortSignal.timeout(opts.timeoutMs);
		const signal = AbortSignal.any([deadline, stop]);
		const https = url.protocol === "https:";
		try {
			return await new Promise<PostOutcome>((resolve, reject) => {
				const req = (https ? httpsRequest : httpRequest)(
					url,
					{
						method: "POST",
						agent: https ? httpsAgent : httpAgent,
						lookup,
						signal,
						headers: {
							"content-type": "application/json",
							"content-length": String(Buffer.byteLength(body)),
							"user-agent": "mkt-x-webhooks/1",
							...headers,
						},
					},
					res => {
						let read = 0;
						res.on("data", (chunk: Buffer) => {
							read += chunk.length;
							if (read > MAX_RESPONSE_BYTES) res.destroy();
						});
						const done = () =>
							resolve({
								statusCode: res.statusCode ?? 0,
								latencyMs: elapsed(),
								error: null,
								retryAfterSeconds: parseRetryAfter(res.headers["retry-after"], Date.now()),
							});
						res.on("end", done);
						res.on("close", done); // an answer cut short still has its status
						res.on("error", () => {});
					}
				);
				req.on("error", reject);
				req.end(body);
			});
		} catch (err) {
			const e = err as NodeJS.ErrnoException;
			const error = deadline.aborted
				? `no answer within ${opts.timeoutMs} ms`
				: stop.aborted
					? "stopped"
					: err instanceof PrivateTargetError
						? "private address refused"
						: (e.code ?? e.message);
			return { statusCode: null, latencyMs: elapsed(), error: String(error).slice(0, 200), retryAfterSeconds: null };
		}
	}

	return {
		post,
		close() {
			httpsAgent.destroy();
			httpAgent.destroy();
		},
	};
}
