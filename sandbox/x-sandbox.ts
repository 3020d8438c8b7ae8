import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { generate } from "selfsigned";
import { parseAuthorizationHeader, verifySignature, type Param } from "../lib/x/oauth1.ts";
import {
	buildDirectMessageEvent,
	buildReadEvent,
	crcResponseToken,
	snowflake,
	webhookSignature,
	type AccountActivityPayload,
	type ActivityUser,
} from "./activity.ts";
import { boundaryOf, parseMultipart } from "./multipart.ts";

// A stand-in for the parts of X this service uses, over HTTPS with a certificate made at start
// (twitter-api-v2 speaks HTTPS only): the credential check, v2 DM sends, v2 chunked media
// upload, 429s with X's rate-limit headers and other refusals on request. It checks the OAuth
// 1.0a signature of every request the way X does, and plays X towards our webhook: signed
// Account Activity deliveries and the CRC check. Its /sandbox/* control API lets a person (or
// `npm start` with X_SANDBOX=1) drive it without code.

export interface SandboxUser {
	id: string;
	username: string;
	name: string;
	profileImageUrl: string;
	token: string;
	tokenSecret: string;
}

export type SandboxUserInput = { token: string; tokenSecret: string } & Partial<Omit<SandboxUser, "token" | "tokenSecret">>;

export interface ReceivedDm {
	dmEventId: string;
	dmConversationId: string;
	senderId: string;
	recipientId: string;
	text: string;
	media: { mediaId: string; mediaType: string; size: number }[];
	at: Date;
}

export type Endpoint = "users.me" | "dm.send" | "media.initialize" | "media.append" | "media.finalize" | "media.status";

export interface SandboxRequest {
	at: Date;
	method: string;
	path: string;
	endpoint: Endpoint | null;
	status: number;
	userId: string | null;
	/** Why the request was refused as unauthenticated, when it was. */
	authError?: string;
}

export interface FailureSpec {
	/** Which endpoint fails (default dm.send); "any" for the next request of any kind. */
	endpoint?: Endpoint | "any";
	status?: number;
	/** X's words, e.g. "You cannot send messages to this user." */
	detail?: string;
	title?: string;
	headers?: Record<string, string>;
	/** Cut the connection without answering (after reading the request): "did X get it?". */
	dropConnection?: boolean;
	/** How many matching requests fail (default 1). */
	times?: number;
}

export interface RateLimitSpec {
	endpoint?: Endpoint | "any";
	times?: number;
	/** The endpoint's 15-minute window (x-rate-limit-*). */
	limit?: number;
	remaining?: number;
	resetInSeconds?: number;
	/** The user's 24-hour window (x-user-limit-24hour-*). */
	userDayLimit?: number;
	userDayRemaining?: number;
	userDayResetInSeconds?: number;
}

export interface XSandboxOptions {
	port?: number;
	host?: string;
	consumerKey: string;
	consumerSecret: string;
	/** Where signed webhook events go (our POST /webhooks/twitter). */
	webhookUrl?: string | null;
	/** Also deliver each DM sent through the API to the sender's webhook, as X does. Default false. */
	echoSentDms?: boolean;
}

export interface InboundDmInput {
	/** The account's X user id (or a registered username). */
	to: string;
	from?: ActivityUser;
	text: string;
	id?: string;
	createdAt?: Date;
}

export interface WebhookDelivery {
	status: number;
	body: unknown;
	payload: AccountActivityPayload;
}

export interface XSandbox {
	url: string;
	/** PEM of the sandbox's self-signed certificate: the only CA its client should trust. */
	ca: string;
	consumerKey: string;
	webhookUrl: string | null;
	stop(): Promise<void>;
	addUser(input: SandboxUserInput): SandboxUser;
	users(): SandboxUser[];
	received(): ReceivedDm[];
	requests(): SandboxRequest[];
	failNext(spec?: FailureSpec): void;
	rateLimitNext(spec?: RateLimitSpec): void;
	/** Forgets DMs, the request log and pending failures (users stay). */
	reset(): void;
	setWebhookUrl(url: string | null): void;
	buildInboundDm(input: InboundDmInput): AccountActivityPayload;
	postWebhook(url: string, body: unknown): Promise<{ status: number; body: unknown }>;
	postInboundDm(input: InboundDmInput): Promise<WebhookDelivery>;
	postReadReceipt(input: { account: string; reader: ActivityUser; lastReadEventId: string }): Promise<WebhookDelivery>;
	/** Sends a CRC challenge to `url` as X does and checks the answer. */
	checkCrc(url?: string): Promise<{ ok: boolean; status: number; expected: string; got: unknown }>;
}

/** The customer who writes when a test or a person does not say who. */
export const DEMO_CUSTOMER: ActivityUser = {
	id: "2000000001",
	username: "khach_hang_demo",
	name: "Khách Hàng Demo",
	profileImageUrl: null,
};

const MAX_BODY = 20 * 1024 * 1024;
const MAX_IMAGE = 5 * 1024 * 1024;
const MAX_GIF = 15 * 1024 * 1024;
const TIMESTAMP_SKEW_S = 300;

interface Media {
	id: string;
	ownerId: string;
	mediaType: string;
	totalBytes: number;
	category: string;
	chunks: Map<number, Buffer>;
	finalized: boolean;
	size: number;
}

interface Injection {
	endpoint: Endpoint | "any";
	times: number;
	/** The status answered; 0 when the connection is cut. */
	status: number;
	respond: (res: ServerResponse) => void;
}

class HttpProblem extends Error {
	status: number;
	title: string;
	constructor(status: number, title: string, detail: string) {
		super(detail);
		this.status = status;
		this.title = title;
	}
}

function endpointOf(method: string, path: string): { endpoint: Endpoint; id?: string } | null {
	if (method === "GET" && path === "/2/users/me") return { endpoint: "users.me" };
	let m = /^\/2\/dm_conversations\/with\/([^/]+)\/messages$/.exec(path);
	if (m && method === "POST") return { endpoint: "dm.send", id: decodeURIComponent(m[1]) };
	if (method === "POST" && path === "/2/media/upload/initialize") return { endpoint: "media.initialize" };
	m = /^\/2\/media\/upload\/([^/]+)\/(append|finalize)$/.exec(path);
	if (m && method === "POST") return { endpoint: m[2] === "append" ? "media.append" : "media.finalize", id: m[1] };
	if (method === "GET" && path === "/2/media/upload") return { endpoint: "media.status" };
	return null;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
	return new Promise((resolve, reject) => {
		const chunks: Buffer[] = [];
		let size = 0;
		req.on("data", (c: Buffer) => {
			size += c.length;
			if (size > MAX_BODY) {
				reject(new HttpProblem(413, "Payload Too Large", "Request body too large"));
				req.destroy();
				return;
			}
			chunks.push(c);
		});
		req.on("end", () => resolve(Buffer.concat(chunks)));
		req.on("error", reject);
	});
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
	const text = JSON.stringify(body);
	const problem = status >= 400;
	res.writeHead(status, {
		"content-type": problem ? "application/problem+json" : "application/json; charset=utf-8",
		"content-length": Buffer.byteLength(text),
		...headers,
	});
	res.end(text);
}

/** X v2's error body: an RFC 7807 problem. */
function problem(status: number, title: string, detail: string) {
	return { title, detail, type: "about:blank", status };
}

function json(body: Buffer): Record<string, any> {
	if (!body.length) return {};
	try {
		const value = JSON.parse(body.toString("utf8"));
		if (value && typeof value === "object") return value;
	} catch {
		// below
	}
	throw new HttpProblem(400, "Invalid Request", "The request body is not valid JSON");
}

export async function startXSandbox(opts: XSandboxOptions): Promise<XSandbox> {
	const pems = await generate([{ name: "commonName", value: "mkt-x X sandbox" }], {
		keyType: "ec",
		algorithm: "sha256",
		notAfterDate: new Date(Date.now() + 30 * 24 * 3600_000),
		extensions: [
			{ name: "basicConstraints", cA: true, critical: true },
			{ name: "keyUsage", digitalSignature: true, keyCertSign: true, critical: true },
			{ name: "extKeyUsage", serverAuth: true },
			{
				name: "subjectAltName",
				altNames: [
					{ type: 2, value: "localhost" },
					{ type: 7, ip: "127.0.0.1" },
					{ type: 7, ip: "::1" },
				],
			},
		],
	});

	const usersByToken = new Map<string, SandboxUser>();
	const dms: ReceivedDm[] = [];
	const log: SandboxRequest[] = [];
	const media = new Map<string, Media>();
	const nonces = new Map<string, number>();
	let injections: Injection[] = [];
	let webhookUrl = opts.webhookUrl ?? null;
	let nextUserId = 1000000001;

	const userById = (id: string) => [...usersByToken.values()].find(u => u.id === id || u.username === id);

	function addUser(input: SandboxUserInput): SandboxUser {
		const id = input.id ?? String(nextUserId++);
		const username = input.username ?? `sandbox_${id}`;
		const user: SandboxUser = {
			id,
			username,
			name: input.name ?? username,
			profileImageUrl: input.profileImageUrl ?? `https://pbs.twimg.com/profile_images/${id}/avatar_normal.jpg`,
			token: input.token,
			tokenSecret: input.tokenSecret,
		};
		usersByToken.set(user.token, user);
		return user;
	}

	/** The user a request is signed by, or why it is refused (X says only "Unauthorized"). */
	function authenticate(req: IncomingMessage, url: URL, body: Buffer): { user: SandboxUser } | { error: string } {
		const oauth = parseAuthorizationHeader(req.headers.authorization);
		if (!oauth) return { error: "no OAuth Authorization header" };
		if (oauth.oauth_consumer_key !== opts.consumerKey) return { error: "unknown consumer key" };
		if (oauth.oauth_version !== undefined && oauth.oauth_version !== "1.0") return { error: "bad oauth_version" };
		const ts = Number(oauth.oauth_timestamp);
		const nowS = Date.now() / 1000;
		if (!Number.isFinite(ts) || Math.abs(nowS - ts) > TIMESTAMP_SKEW_S) return { error: "timestamp out of bounds" };
		const nonce = oauth.oauth_nonce;
		if (!nonce) return { error: "no nonce" };
		for (const [n, exp] of nonces) if (exp < nowS) nonces.delete(n);
		if (nonces.has(`${oauth.oauth_token}:${nonce}`)) return { error: "nonce used before" };
		const user = usersByToken.get(oauth.oauth_token ?? "");
		if (!user) return { error: "unknown token" };
		let formParams: Param[] | undefined;
		if (/^application\/x-www-form-urlencoded/i.test(String(req.headers["content-type"] ?? ""))) {
			formParams = [...new URLSearchParams(body.toString("utf8")).entries()];
		}
		if (!verifySignature({ method: req.method ?? "GET", url, formParams, oauth }, opts.consumerSecret, user.tokenSecret))
			return { error: "bad signature" };
		nonces.set(`${oauth.oauth_token}:${nonce}`, nowS + 2 * TIMESTAMP_SKEW_S);
		return { user };
	}

	function takeInjection(endpoint: Endpoint): Injection | null {
		const i = injections.findIndex(inj => inj.endpoint === "any" || inj.endpoint === endpoint);
		if (i === -1) return null;
		const inj = injections[i];
		if (--inj.times <= 0) injections.splice(i, 1);
		return inj;
	}

	// ----- X's endpoints -----

	function usersMe(user: SandboxUser, url: URL) {
		const fields = (url.searchParams.get("user.fields") ?? "").split(",");
		const data: Record<string, string> = { id: user.id, name: user.name, username: user.username };
		if (fields.includes("profile_image_url")) data.profile_image_url = user.profileImageUrl;
		return { status: 200, body: { data } };
	}

	function sendDm(user: SandboxUser, participantId: string, body: Record<string, any>) {
		if (!/^[0-9]{1,19}$/.test(participantId))
			throw new HttpProblem(400, "Invalid Request", "The `participant_id` path parameter is not a valid user id");
		if (participantId === user.id) throw new HttpProblem(403, "Forbidden", "You cannot send a Direct Message to yourself.");
		const text = typeof body.text === "string" ? body.text : "";
		const attachments = Array.isArray(body.attachments) ? body.attachments : [];
		if (!text && !attachments.length) throw new HttpProblem(400, "Invalid Request", "One of text or attachments is required");
		if ([...text].length > 10_000) throw new HttpProblem(400, "Invalid Request", "text must be at most 10000 characters");
		if (attachments.length > 1) throw new HttpProblem(400, "Invalid Request", "At most one attachment is allowed");
		const used = attachments.map((a: { media_id?: unknown }) => {
			const m = media.get(String(a?.media_id ?? ""));
			if (!m || m.ownerId !== user.id) throw new HttpProblem(400, "Invalid Request", `Media ${a?.media_id} not found`);
			if (!m.finalized) throw new HttpProblem(400, "Invalid Request", `Media ${m.id} is not finalized`);
			return { mediaId: m.id, mediaType: m.mediaType, size: m.size };
		});
		const dmEventId = snowflake();
		const dmConversationId = [user.id, participantId].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)).join("-");
		const dm: ReceivedDm = {
			dmEventId,
			dmConversationId,
			senderId: user.id,
			recipientId: participantId,
			text,
			media: used,
			at: new Date(),
		};
		dms.push(dm);
		if (opts.echoSentDms && webhookUrl) {
			const payload = buildDirectMessageEvent({ forUserId: user.id, from: user, to: { id: participantId }, text, id: dmEventId });
			void postWebhook(webhookUrl, payload).catch(() => {});
		}
		return { status: 201, body: { data: { dm_conversation_id: dmConversationId, dm_event_id: dmEventId } } };
	}

	function mediaInitialize(user: SandboxUser, body: Record<string, any>) {
		const mediaType = String(body.media_type ?? "");
		const totalBytes = Number(body.total_bytes);
		if (!/^image\/(jpeg|png|gif|webp)$/.test(mediaType))
			throw new HttpProblem(400, "Invalid Request", `media_type ${mediaType || "(none)"} is not supported`);
		const cap = mediaType === "image/gif" ? MAX_GIF : MAX_IMAGE;
		if (!Number.isInteger(totalBytes) || totalBytes <= 0 || totalBytes > cap)
			throw new HttpProblem(400, "Invalid Request", `total_bytes must be between 1 and ${cap}`);
		const id = snowflake();
		media.set(id, {
			id,
			ownerId: user.id,
			mediaType,
			totalBytes,
			category: String(body.media_category ?? ""),
			chunks: new Map(),
			finalized: false,
			size: 0,
		});
		return { status: 200, body: { data: { id, media_key: `3_${id}`, expires_after_secs: 86400 } } };
	}

	function ownedMedia(user: SandboxUser, id: string | undefined): Media {
		const m = media.get(id ?? "");
		if (!m || m.ownerId !== user.id) throw new HttpProblem(400, "Invalid Request", `Media ${id} not found`);
		return m;
	}

	function mediaAppend(user: SandboxUser, id: string | undefined, req: IncomingMessage, body: Buffer) {
		const m = ownedMedia(user, id);
		if (m.finalized) throw new HttpProblem(400, "Invalid Request", "Media is already finalized");
		const boundary = boundaryOf(req.headers["content-type"]);
		if (!boundary) throw new HttpProblem(400, "Invalid Request", "APPEND takes multipart/form-data");
		const parts = parseMultipart(body, boundary);
		const index = Number(parts.find(p => p.name === "segment_index")?.data.toString());
		const data = parts.find(p => p.name === "media")?.data;
		if (!Number.isInteger(index) || index < 0 || index > 999 || !data)
			throw new HttpProblem(400, "Invalid Request", "segment_index and media are required");
		m.chunks.set(index, Buffer.from(data));
		return { status: 200, body: { data: { expires_at: Math.floor(Date.now() / 1000) + 86400 } } };
	}

	function mediaFinalize(user: SandboxUser, id: string | undefined) {
		const m = ownedMedia(user, id);
		const indexes = [...m.chunks.keys()].sort((a, b) => a - b);
		if (!indexes.length || indexes.some((v, i) => v !== i)) throw new HttpProblem(400, "Invalid Request", "Segments are missing");
		const size = indexes.reduce((sum, i) => sum + m.chunks.get(i)!.length, 0);
		if (size !== m.totalBytes) throw new HttpProblem(400, "Invalid Request", `File size mismatch: got ${size}, expected ${m.totalBytes}`);
		m.finalized = true;
		m.size = size;
		return { status: 200, body: { data: { id: m.id, media_key: `3_${m.id}`, size, expires_after_secs: 86400 } } };
	}

	function mediaStatus(user: SandboxUser, url: URL) {
		const m = ownedMedia(user, url.searchParams.get("media_id") ?? undefined);
		return {
			status: 200,
			body: { data: { id: m.id, media_key: `3_${m.id}`, processing_info: { state: m.finalized ? "succeeded" : "pending" } } },
		};
	}

	async function handleX(req: IncomingMessage, res: ServerResponse, url: URL) {
		const entry: SandboxRequest = {
			at: new Date(),
			method: req.method ?? "GET",
			path: url.pathname,
			endpoint: null,
			status: 0,
			userId: null,
		};
		log.push(entry);
		const respond = (status: number, body: unknown, headers?: Record<string, string>) => {
			entry.status = status;
			send(res, status, body, headers);
		};
		try {
			const body = await readBody(req);
			const route = endpointOf(entry.method, url.pathname);
			entry.endpoint = route?.endpoint ?? null;
			const auth = authenticate(req, url, body);
			if ("error" in auth) {
				entry.authError = auth.error;
				return respond(401, problem(401, "Unauthorized", "Unauthorized"));
			}
			entry.userId = auth.user.id;
			if (!route) return respond(404, problem(404, "Not Found Error", `No route for ${entry.method} ${url.pathname}`));
			const injected = takeInjection(route.endpoint);
			if (injected) {
				entry.status = injected.status;
				return injected.respond(res);
			}
			const user = auth.user;
			let out: { status: number; body: unknown };
			switch (route.endpoint) {
				case "users.me":
					out = usersMe(user, url);
					break;
				case "dm.send":
					out = sendDm(user, route.id!, json(body));
					break;
				case "media.initialize":
					out = mediaInitialize(user, json(body));
					break;
				case "media.append":
					out = mediaAppend(user, route.id, req, body);
					break;
				case "media.finalize":
					out = mediaFinalize(user, route.id);
					break;
				case "media.status":
					out = mediaStatus(user, url);
					break;
			}
			respond(out.status, out.body);
		} catch (err) {
			if (err instanceof HttpProblem) return respond(err.status, problem(err.status, err.title, err.message));
			respond(500, problem(500, "Internal Error", (err as Error).message));
		}
	}

	// ----- Towards our webhook -----

	async function postWebhook(target: string, body: unknown): Promise<{ status: number; body: unknown }> {
		const raw = JSON.stringify(body);
		const res = await fetch(target, {
			method: "POST",
			headers: { "content-type": "application/json", "x-twitter-webhooks-signature": webhookSignature(opts.consumerSecret, raw) },
			body: raw,
		});
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : null;
		} catch {
			// keep the text
		}
		return { status: res.status, body: parsed };
	}

	function accountOf(to: string): ActivityUser {
		const user = userById(to);
		if (user) return user;
		if (/^[0-9]{1,19}$/.test(to)) return { id: to };
		throw new HttpProblem(400, "Invalid Request", `No sandbox user ${to}`);
	}

	function buildInboundDm(input: InboundDmInput): AccountActivityPayload {
		const account = accountOf(input.to);
		return buildDirectMessageEvent({
			forUserId: account.id,
			from: input.from ?? DEMO_CUSTOMER,
			to: account,
			text: input.text,
			id: input.id,
			createdAt: input.createdAt,
		});
	}

	function requireWebhookUrl(): string {
		if (!webhookUrl) throw new HttpProblem(409, "Conflict", "No webhook URL configured for the sandbox");
		return webhookUrl;
	}

	async function postInboundDm(input: InboundDmInput): Promise<WebhookDelivery> {
		const payload = buildInboundDm(input);
		return { ...(await postWebhook(requireWebhookUrl(), payload)), payload };
	}

	async function postReadReceipt(input: { account: string; reader: ActivityUser; lastReadEventId: string }): Promise<WebhookDelivery> {
		const payload = buildReadEvent({
			forUserId: accountOf(input.account).id,
			reader: input.reader,
			lastReadEventId: input.lastReadEventId,
		});
		return { ...(await postWebhook(requireWebhookUrl(), payload)), payload };
	}

	async function checkCrc(target?: string) {
		const base = target ?? requireWebhookUrl();
		const token = randomBytes(18).toString("base64url");
		const url = new URL(base);
		url.searchParams.set("crc_token", token);
		const res = await fetch(url);
		const got = await res.json().catch(() => null);
		const expected = crcResponseToken(opts.consumerSecret, token);
		return {
			ok: res.status === 200 && (got as { response_token?: string } | null)?.response_token === expected,
			status: res.status,
			expected,
			got,
		};
	}

	function failNext(spec: FailureSpec = {}) {
		const status = spec.status ?? 403;
		const title =
			spec.title ??
			(status === 403 ? "Forbidden" : status === 401 ? "Unauthorized" : status >= 500 ? "Service Unavailable" : "Invalid Request");
		const detail = spec.detail ?? (status === 403 ? "You cannot send messages to this user." : title);
		injections.push({
			endpoint: spec.endpoint ?? "dm.send",
			times: spec.times ?? 1,
			status: spec.dropConnection ? 0 : status,
			respond: res => (spec.dropConnection ? res.socket?.destroy() : send(res, status, problem(status, title, detail), spec.headers)),
		});
	}

	function rateLimitNext(spec: RateLimitSpec = {}) {
		injections.push({
			endpoint: spec.endpoint ?? "dm.send",
			times: spec.times ?? 1,
			status: 429,
			respond: res => {
				const nowS = Math.floor(Date.now() / 1000);
				send(res, 429, problem(429, "Too Many Requests", "Too Many Requests"), {
					"x-rate-limit-limit": String(spec.limit ?? 15),
					"x-rate-limit-remaining": String(spec.remaining ?? 0),
					"x-rate-limit-reset": String(nowS + (spec.resetInSeconds ?? 900)),
					"x-user-limit-24hour-limit": String(spec.userDayLimit ?? 1440),
					"x-user-limit-24hour-remaining": String(spec.userDayRemaining ?? 1000),
					"x-user-limit-24hour-reset": String(nowS + (spec.userDayResetInSeconds ?? 86400)),
				});
			},
		});
	}

	// ----- Control API -----

	async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL) {
		try {
			const body = json(await readBody(req));
			const route = `${req.method} ${url.pathname.replace(/\/+$/, "")}`;
			switch (route) {
				case "GET /sandbox":
					return send(res, 200, {
						url: sandbox.url,
						webhookUrl,
						consumerKey: opts.consumerKey,
						users: sandbox.users().map(({ tokenSecret: _s, ...u }) => u),
						dms: dms.length,
					});
				case "GET /sandbox/users":
					return send(res, 200, { data: sandbox.users() });
				case "POST /sandbox/users":
					if (typeof body.token !== "string" || typeof body.tokenSecret !== "string")
						throw new HttpProblem(400, "Invalid Request", "token and tokenSecret are required");
					return send(res, 201, { data: addUser(body as SandboxUserInput) });
				case "GET /sandbox/dms":
					return send(res, 200, { data: dms });
				case "POST /sandbox/inbound":
					if (typeof body.to !== "string" || typeof body.text !== "string")
						throw new HttpProblem(400, "Invalid Request", "to (account id or username) and text are required");
					return send(res, 200, await postInboundDm(body as InboundDmInput));
				case "POST /sandbox/read":
					return send(
						res,
						200,
						await postReadReceipt({
							account: String(body.account),
							reader: body.reader ?? DEMO_CUSTOMER,
							lastReadEventId: String(body.lastReadEventId),
						})
					);
				case "POST /sandbox/fail-next":
					failNext(body as FailureSpec);
					return send(res, 200, { ok: true });
				case "POST /sandbox/rate-limit-next":
					rateLimitNext(body as RateLimitSpec);
					return send(res, 200, { ok: true });
				case "POST /sandbox/crc":
					return send(res, 200, await checkCrc(typeof body.url === "string" ? body.url : undefined));
				case "POST /sandbox/webhook-url":
					webhookUrl = typeof body.url === "string" ? body.url : null;
					return send(res, 200, { webhookUrl });
				case "POST /sandbox/reset":
					sandbox.reset();
					return send(res, 200, { ok: true });
				default:
					return send(res, 404, problem(404, "Not Found", `No sandbox route ${route}`));
			}
		} catch (err) {
			if (err instanceof HttpProblem) return send(res, err.status, problem(err.status, err.title, err.message));
			send(res, 502, problem(502, "Bad Gateway", (err as Error).message));
		}
	}

	const server: Server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
		const url = new URL(req.url ?? "/", `https://${req.headers.host ?? "localhost"}`);
		if (url.pathname === "/sandbox" || url.pathname.startsWith("/sandbox/")) void handleControl(req, res, url);
		else void handleX(req, res, url);
	});
	const host = opts.host ?? "127.0.0.1";
	await new Promise<void>((resolve, reject) => {
		server.once("error", reject);
		server.listen(opts.port ?? 0, host, () => resolve());
	});
	const { port } = server.address() as AddressInfo;
	const publicHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;

	const sandbox: XSandbox = {
		url: `https://${publicHost}:${port}`,
		ca: pems.cert,
		consumerKey: opts.consumerKey,
		get webhookUrl() {
			return webhookUrl;
		},
		stop: () =>
			new Promise<void>(resolve => {
				server.close(() => resolve());
				server.closeAllConnections();
			}),
		addUser,
		users: () => [...usersByToken.values()],
		received: () => [...dms],
		requests: () => [...log],
		failNext,
		rateLimitNext,
		reset() {
			dms.length = 0;
			log.length = 0;
			injections = [];
		},
		setWebhookUrl(url) {
			webhookUrl = url;
		},
		buildInboundDm,
		postWebhook,
		postInboundDm,
		postReadReceipt,
		checkCrc,
	};
	return sandbox;
}
