import { isWithinBusinessHours } from "../accounts/business-hours.ts";

// When the bot answers an inbound message by itself. The switches (the account's
// autoReplyEnabled and the AI config's enabled) are checked first and leave no trace; the
// reasons below are recorded on the message's ai_replies row.

export type AutoReplySkip = "conversation_closed" | "needs_human" | "superseded" | "business_hours";

type Hours = Parameters<typeof isWithinBusinessHours>[0];

export interface AutoReplyFacts {
	messageId: string;
	/** When the customer wrote: business hours are judged at that moment, not when the event is handled. */
	at: Date;
	businessHours: Hours | null | undefined;
	conversation: { status: string; needsHuman?: boolean | null } | null;
	/** The newest message stored in the conversation (any direction). */
	latestMessageId: string | null;
}

export function autoReplySkipReason(f: AutoReplyFacts): AutoReplySkip | null {
	if (!f.conversation || f.conversation.status !== "open") return "conversation_closed";
	// Escalated: a person has it until an agent answers (the inbox clears the flag) or closes it.
	if (f.conversation.needsHuman) return "needs_human";
	// Someone answered already (an agent, or from X's app), or the customer wrote again and
	// that newer message gets the reply, with this one in its context.
	if (f.latestMessageId !== f.messageId) return "superseded";
	// Agents cover business hours; the bot the rest.
	if (f.businessHours?.enabled && isWithinBusinessHours(f.businessHours, f.at)) return "business_hours";
	return null;
}
