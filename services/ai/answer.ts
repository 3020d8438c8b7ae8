import { classify, detectLanguage } from "./classifier.ts";
import type { Claude } from "./claude.ts";
import { capReply, escalationReasonOf, type Answer, type EscalationReason, type Intent } from "./intents.ts";
import { systemPrompt, type Turn } from "./prompt.ts";
import { modelFor, replyCap, type AiSettings } from "./settings.ts";
import { handoffReply, replyTemplate } from "./templates.ts";

// One answer to a customer's message: Claude when the service has a client, the built-in
// classifier otherwise or when Claude fails. Then the same rules for both: escalation (a
// complaint, a request for a person, or a confidence below the account's threshold), and a
// reply capped at maxReplyChars and X's 10,000. A reply the bot is not sure of is not sent as
// it is: the customer gets the hand-over message, in their language.

export interface AnswerInput {
	settings: AiSettings;
	/** The customer's latest message. */
	text: string;
	/** The conversation as turns, ending with `text` as the last user turn. */
	turns: Turn[];
	claude: Claude | null;
}

export interface AnswerResult extends Answer {
	escalationReason: EscalationReason | null;
	/** Why Claude's answer was not used, when it was asked and failed. */
	fallback: string | null;
}

/** Tokens enough for a reply of `chars` characters plus the tool call around it. */
function maxTokensFor(chars: number): number {
	return Math.min(4096, chars + 256);
}

export async function answerMessage(input: AnswerInput): Promise<AnswerResult> {
	const { settings, text } = input;
	const language = detectLanguage(text);
	const cap = replyCap(settings);

	let reply: string;
	let intent: Intent;
	let confidence: number;
	let provider: Answer["provider"] = "builtin";
	let fallback: string | null = null;

	const result = input.claude
		? await input.claude.reply({
				model: modelFor(settings),
				system: systemPrompt({ systemPrompt: settings.systemPrompt, maxReplyChars: cap }),
				turns: input.turns,
				maxTokens: maxTokensFor(cap),
			})
		: null;
	if (result?.output) {
		({ reply, intent, confidence } = result.output);
		provider = "anthropic";
	} else {
		fallback = result?.failure ?? null;
		const c = classify(text);
		intent = c.intent;
		confidence = c.confidence;
		reply = replyTemplate(intent, c.language);
	}

	const escalationReason = escalationReasonOf(intent, confidence, settings.escalationThreshold);
	if (escalationReason === "low_confidence") reply = handoffReply(language);
	return {
		message: capReply(reply, cap),
		intent,
		confidence: Math.round(confidence * 100) / 100,
		needsHumanEscalation: escalationReason !== null,
		provider,
		escalationReason,
		fallback,
	};
}
