import { randomBytes } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { withEnv } from "./env.ts";

// A local stand-in for the Anthropic Messages API (POST /v1/messages), for the real
// @anthropic-ai/sdk pointed at it with ANTHROPIC_BASE_URL. It checks the API key and version
// header as the API does, records every request, and answers what the test scripts: a tool
// call with a given input, a plain text answer, an API error (529 overloaded…), or nothing at all
// (the client's timeout). Unscripted requests get a well-formed tool answer.

export type FakeReply =
	/** A `tool_use` block calling `name` (reply_to_customer by default) with this input. */
	| { tool: unknown; name?: string; stopReason?: string }
	/** A text answer and no tool call. */
	| { text: string }
	/** An API error, e.g. { status: 529, type: "overloaded_error" }. */
	| { status: number; type: string; message?: string }
	/** Never answers: the connection stays open until the client gives up. */
	| { hang: true };

export interface FakeRequest {
	headers: IncomingHttpHeaders;
	body: any;
	reply: FakeReply;
}

export interface FakeAnthropic {
	url: string;
	apiKey: string;
	requests: FakeRequest[];
	/** The replies to the next requests, in order (retries included). */
	queue(...replies: FakeReply[]): void;
	/** Models that refuse a forced tool (tool_choice "tool") with the API's 400, as models that always think do. */
	refuseForcedTool(models: string[]): void;
	/** Forgets requests, queued replies and refusing models. */
	reset(): void;
	/** Points ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL (and any `extra` variables) at this server; returns the undo. */
	useInEnv(extra?: Record<string, string>): () => void;
	stop(): Promise<void>;
}

/** The API key a request carries: `x-api-key`, or `Authorization: Bearer` as this SDK sends it. */
export function apiKeyOf(headers: IncomingHttpHeaders): string | null {
	const header = headers["x-api-key"];
	if (typeof header === "string") return header;
	const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? "");
	return bearer ? bearer[1] : null;
}

export const DEFAULT_TOOL_INPUT = { reply: "Dạ, shop có thể giúp gì cho anh/chị ạ?", intent: "greeting", confidence: 0.9 };

export async function startFakeAnthropic(): Promise<FakeAnthropic> {
	const apiKey = `sk-ant-test-${randomBytes(8).toString("hex")}`;
	const requests: FakeRequest[] = [];
	let queued: FakeReply[] = [];
	let refusing = new Set<string>();
	const hanging = new Set<ServerResponse>();

	const json = (res: ServerResponse, status: number, body: unknown) => {
		res
			.writeHead(status, { "content-type": "application/json", "request-id": `req_${randomBytes(6).toString("hex")}` })
			.end(JSON.stringify(body));
	};
	const apiError = (res: ServerResponse, status: number, type: string, message: string) =>
		json(res, status, { type: "error", error: { type, message } });

	const server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", c => chunks.push(c));
		req.on("end", () => {
			if (req.method !== "POST" || req.url?.split("?")[0] !== "/v1/messages") return apiError(res, 404, "not_found_error", "Not found");
			let body: any;
			try {
				body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
			} catch {
				return apiError(res, 400, "invalid_request_error", "body is not JSON");
			}
			const refuse = (reply: Extract<FakeReply, { status: number }>) => {
				requests.push({ headers: req.headers, body, reply });
				apiError(res, reply.status, reply.type, reply.message ?? reply.type);
			};
			if (apiKeyOf(req.headers) !== apiKey) return refuse({ status: 401, type: "authentication_error", message: "invalid API key" });
			if (!req.headers["anthropic-version"])
				return refuse({ status: 400, type: "invalid_request_error", message: "anthropic-version header is required" });
			if (body.tool_choice?.type === "tool" && refusing.has(body.model)) {
				return refuse({
					status: 400,
					type: "invalid_request_error",
					message: "tool_choice forces tool use, which is not supported while thinking is on.",
				});
			}
			const reply = queued.shift() ?? { tool: DEFAULT_TOOL_INPUT };
			requests.push({ headers: req.headers, body, reply });
			if ("hang" in reply) {
				hanging.add(res);
				res.on("close", () => hanging.delete(res));
				return;
			}
			if ("status" in reply) return apiError(res, reply.status, reply.type, reply.message ?? reply.type);
			const content =
				"text" in reply
					? [{ type: "text", text: reply.text }]
					: [
							{
								type: "tool_use",
								id: `toolu_${randomBytes(8).toString("hex")}`,
								name: reply.name ?? body.tool_choice?.name ?? body.tools?.[0]?.name,
								input: reply.tool,
							},
						];
			json(res, 200, {
				id: `msg_${randomBytes(8).toString("hex")}`,
				type: "message",
				role: "assistant",
				model: body.model,
				content,
				stop_reason: "text" in reply ? "end_turn" : (reply.stopReason ?? "tool_use"),
				stop_sequence: null,
				usage: { input_tokens: 100, output_tokens: 20 },
			});
		});
	});
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

	return {
		url,
		apiKey,
		requests,
		queue: (...replies) => void queued.push(...replies),
		refuseForcedTool: models => void models.forEach(m => refusing.add(m)),
		reset() {
			requests.length = 0;
			queued = [];
			refusing = new Set();
		},
		useInEnv(extra = {}) {
			return withEnv({ ANTHROPIC_API_KEY: apiKey, ANTHROPIC_BASE_URL: url, ...extra });
		},
		async stop() {
			for (const res of hanging) res.destroy();
			server.closeAllConnections();
			await new Promise<void>(resolve => server.close(() => resolve()));
		},
	};
}
