// What the chatbot says it understood, whichever provider answered.

export const INTENTS = [
	"greeting",
	"check_order",
	"product_info",
	"pricing",
	"shipping",
	"complaint",
	"human_request",
	"opt_out",
	"other",
] as const;
export type Intent = (typeof INTENTS)[number];

export type Language = "vi" | "en";
export type Provider = "anthropic" | "builtin";

/** X's limit on a DM; a reply is also capped at the account's maxReplyChars. */
export const MAX_REPLY_CHARS = 10_000;

export type EscalationReason = "human_request" | "complaint" | "low_confidence";

/** The contract's answer, plus which provider gave it. */
export interface Answer {
	message: string;
	intent: Intent;
	confidence: number;
	needsHumanEscalation: boolean;
	provider: Provider;
}

/** Why a person should take the conversation over, or null when the bot can keep it. */
export function escalationReasonOf(intent: Intent, confidence: number, threshold: number): EscalationReason | null {
	if (intent === "human_request" || intent === "complaint") return intent;
	if (confidence < threshold) return "low_confidence";
	return null;
}

/** At most `max` characters (code points, never half a surrogate pair), ending with "…" when cut. */
export function capReply(text: string, max: number): string {
	const chars = Array.from(text.trim());
	if (chars.length <= max) return chars.join("");
	return (
		chars
			.slice(0, Math.max(0, max - 1))
			.join("")
			.trimEnd() + "…"
	);
}
