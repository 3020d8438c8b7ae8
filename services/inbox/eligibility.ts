// X's rules for automated DMs, in one place for every automated sender (campaigns, flows, the
// bot): only to people who wrote to the account first or opted in, never to anyone who opted
// out, and only from an active account. A person answering from the inbox is not automated.

export type SendOrigin = "agent" | "bot" | "campaign" | "flow";

export type SkipReason = "account_inactive" | "opted_out" | "no_prior_contact" | "contact_missing";

export interface EligibilityFacts {
	accountActive: boolean;
	contact: { optedOut?: boolean | null; optedIn?: boolean | null; lastInboundAt?: Date | string | null } | null;
}

export function automatedSendSkipReason(kind: SendOrigin, facts: EligibilityFacts): SkipReason | null {
	if (!facts.contact) return "contact_missing";
	if (!facts.accountActive) return "account_inactive";
	if (kind === "agent") return null;
	if (facts.contact.optedOut) return "opted_out";
	if (!facts.contact.lastInboundAt && !facts.contact.optedIn) return "no_prior_contact";
	return null;
}
