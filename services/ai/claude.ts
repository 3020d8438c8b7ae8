import Anthropic from "@anthropic-ai/sdk";
import type { MessageCreateParamsNonStreaming, ToolChoice } from "@anthropic-ai/sdk/resources/messages";
import { parseReplyOutput, REPLY_TOOL, REPLY_TOOL_NAME, type ReplyOutput } from "./output.ts";
import type { Turn } from "./prompt.ts";

// The Anthropic Messages API through @anthropic-ai/sdk. Each attempt has a short timeout and the
// SDK retries 408/409/429/5xx/529 and connection failures a bounded number of times; the whole
// call also has a deadline, so a reply never outlives the request that asked for it. Whatever
// goes wrong (the API down or overloaded, a timeout, a refused key, a tool answer that does not
// match the schema) comes back as `{ output: null, failure }` and the caller falls back to the
// built-in classifier; nothing here throws.
//
// The answer is forced through one tool (tool_choice "tool"). Models that always think refuse a
// forced tool (the API answers 400); for such a model the call is made again once with
// tool_choice "auto" and the tool as the only way to answer, and the model is remembered.

export interface ClaudeOptions {
	apiKey: string;
	baseUrl: string | null;
	/** Per attempt. */
	timeoutMs: number;
	maxRetries: number;
	/** For the whole call, retries included. */
	deadlineMs: number;
}

export interface ClaudeRequest {
	model: string;
	system: string[];
	turns: Turn[];
	maxTokens: number;
}

export type ClaudeResult = { output: ReplyOutput; failure: null } | { output: null; failure: string };

export interface Claude {
	reply(req: ClaudeRequest): Promise<ClaudeResult>;
}

/** What a failed call was, for the log line (never the request's content). */
export function describeFailure(err: unknown): string {
	if (err instanceof Anthropic.APIConnectionTimeoutError) return "timeout";
	if (err instanceof Anthropic.APIUserAbortError) return "deadline exceeded";
	if (err instanceof Anthropic.APIConnectionError) return `connection failed: ${err.message}`;
	if (err instanceof Anthropic.APIError) return `HTTP ${err.status ?? "?"}${err.type ? ` ${err.type}` : ""}: ${err.message}`;
	return `unexpected: ${(err as Error)?.message ?? String(err)}`;
}

const refusesForcedTool = (err: unknown) => err instanceof Anthropic.BadRequestError && /tool_choice|thinking|prefill/i.test(err.message);

export function createClaude(opts: ClaudeOptions): Claude {
	const client = new Anthropic({
		apiKey: opts.apiKey,
		baseURL: opts.baseUrl ?? undefined,
		timeout: opts.timeoutMs,
		maxRetries: opts.maxRetries,
		logLevel: "off",
	});
	const autoOnly = new Set<string>();

	async function call(req: ClaudeRequest, toolChoice: ToolChoice, signal: AbortSignal) {
		const params: MessageCreateParamsNonStreaming = {
			model: req.model,
			max_tokens: req.maxTokens,
			system: req.system.map(text => ({ type: "text" as const, text })),
			messages: req.turns.map(t => ({ role: t.role, content: t.content })),
			tools: [REPLY_TOOL],
			tool_choice: toolChoice,
		};
		return client.messages.create(params, { signal });
	}

	return {
		async reply(req) {
			const signal = AbortSignal.timeout(opts.deadlineMs);
			try {
				let message;
				if (autoOnly.has(req.model)) {
					message = await call(req, { type: "auto" }, signal);
				} else {
					try {
						message = await call(req, { type: "tool", name: REPLY_TOOL_NAME, disable_parallel_tool_use: true }, signal);
					} catch (err) {
						if (!refusesForcedTool(err)) throw err;
						autoOnly.add(req.model);
						message = await call(req, { type: "auto" }, signal);
					}
				}
				const block = message.content.find(b => b.type === "tool_use" && b.name === REPLY_TOOL_NAME);
				if (!block || block.type !== "tool_use")
					return { output: null, failure: `no ${REPLY_TOOL_NAME} call in the answer (stop_reason ${message.stop_reason})` };
				const parsed = parseReplyOutput(block.input);
				if (!parsed.output) return { output: null, failure: `malformed tool answer: ${parsed.problem}` };
				return { output: parsed.output, failure: null };
			} catch (err) {
				return { output: null, failure: describeFailure(err) };
			}
		},
	};
}
