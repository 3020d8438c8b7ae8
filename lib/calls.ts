import type { CallingOptions, Context } from "moleculer";
import type { Static } from "@sinclair/typebox";
import type { AliasInfo } from "./openapi.ts";
import type { AccountRef } from "../services/webhooks/account-directory.ts";
import type { XProfile } from "../services/accounts/connection.ts";
import type { RenderContact } from "../services/templates/render.ts";
import type { CampaignInfo } from "../services/analytics/report.ts";
import type { RuleUsage } from "../services/x/send-ledger.ts";
import type { DmResult } from "../services/x/send-batch.ts";
import type { SendKind } from "../services/x/send-limits.ts";
import type { SendOutcome } from "../services/inbox/pipeline.ts";
import type { SendToContactResult } from "../services/inbox/send.ts";
import type { Drift, EnqueueParams } from "../services/inbox/reconcile.ts";
import type { eraseContactThreads } from "../services/inbox/erase.ts";
import type { presentConversation } from "../services/inbox/present.ts";
import type { CONVERSATION_STATUSES } from "../models/conversation.model.ts";
import type { Paged } from "./pagination.ts";
import type { ActivityParams, InboundPeopleParams, ReconcileActivityParams } from "../services/contacts/inbound.ts";

// The actions one service calls on another, with what each takes and answers: `call()` checks the
// params and types the result at compile time, so no caller casts an action's answer. Params carry
// no merchantId where the call acts for a merchant: that travels in ctx.meta (see
// docs/architecture.md, "Merchant identity"). Add an entry when a service starts calling another.

type Quota = { limit: number; used: number; remaining: number; resetAt: string | null; remainingNow: number; limits: RuleUsage[] };
/** What a `get` of another service presents: at least its id and name (campaigns snapshot the rest). */
type Presented = Record<string, unknown> & { id: string; name: string };
type Outbound = { contactId: string; content: string; imageUrl?: string; idempotencyKey?: string };

export interface Actions {
	"accounts.byTwitterUserId": { params: { twitterUserId: string }; result: AccountRef | null };
	"accounts.ref": { params: { id: string }; result: AccountRef | null };
	"accounts.ready": { params: Record<string, never>; result: boolean };
	"api.listAliases": { params: { withActionSchema: boolean }; result: AliasInfo[] };
	"campaigns.metricsFor": { params: { campaignIds: string[] }; result: Record<string, CampaignInfo> };
	"contacts.ensureFromInbound": {
		params: Omit<Static<typeof InboundPeopleParams>, "merchantId">;
		result: Record<string, { contactId: string; created: boolean }>;
	};
	"contacts.recordActivity": { params: Omit<Static<typeof ActivityParams>, "merchantId">; result: { updated: number } };
	"contacts.reconcileActivity": { params: Static<typeof ReconcileActivityParams>; result: Drift[] };
	"contacts.optOut": { params: { id: string }; result: unknown };
	"contacts.addTags": { params: { id: string; tags: string[] }; result: unknown };
	"contacts.removeTag": { params: { id: string; tagName: string }; result: unknown };
	"contacts.setAttributes": { params: { id: string; attributes: Record<string, unknown> }; result: unknown };
	"contacts.get": { params: { id: string }; result: RenderContact };
	"contacts.namesOf": { params: { ids: string[] }; result: Record<string, { username?: string; displayName?: string }> };
	"inbox.conversationsOf": {
		params: { contactId: string; status?: (typeof CONVERSATION_STATUSES)[number]; skip?: number; take?: number };
		result: Paged<ReturnType<typeof presentConversation>>;
	};
	"inbox.eraseContact": {
		params: { contactId: string; accountId?: string; twitterUserId?: string };
		result: Awaited<ReturnType<typeof eraseContactThreads>>;
	};
	"inbox.enqueue": { params: Omit<Static<typeof EnqueueParams>, "merchantId">; result: { queued: number } };
	"inbox.assign": { params: { id: string; userId: string }; result: ReturnType<typeof presentConversation> };
	"inbox.close": { params: { id: string; reason?: string }; result: ReturnType<typeof presentConversation> };
	"inbox.escalate": { params: { conversationId: string; reason: string }; result: { escalated: boolean } };
	"inbox.sendToContact": { params: Outbound & { origin: string }; result: SendToContactResult };
	"inbox.sendBatch": { params: { origin: string; items: (Outbound & { key: string })[] }; result: { results: SendOutcome[] } };
	"templates.get": { params: { id: string }; result: Presented };
	"segments.get": { params: { id: string }; result: Presented };
	"x.verifyCredentials": { params: { oauthToken: string; oauthTokenSecret: string }; result: XProfile };
	"x.sendQuota": { params: { accountId: string }; result: Quota };
	"x.checkSendAllowed": {
		params: { accountId: string; kind: SendKind };
		result: { allowed: boolean; remaining: number; retryAt: string | null; limits: RuleUsage[] };
	};
	"x.sendDirectMessages": {
		params: {
			accountId: string;
			kind: SendKind;
			messages: { ref: string; recipientTwitterUserId: string; text: string; mediaUrl?: string }[];
		};
		result: { results: DmResult[] };
	};
}

export type ActionName = keyof Actions;

/** Anything that calls actions: a context (child calls keep its meta) or the broker (a system call). */
export interface Caller {
	call<R, P>(action: string, params: P, opts?: CallingOptions): Promise<R>;
}

/** `ctx.call` with the action's params checked and its result typed from `Actions`. */
export function call<A extends ActionName>(
	caller: Caller | Context,
	action: A,
	params: Actions[A]["params"],
	opts?: CallingOptions
): Promise<Actions[A]["result"]> {
	return (caller as Caller).call<Actions[A]["result"], Actions[A]["params"]>(action, params, opts);
}

/** A call made for `merchantId` by code that has no caller merchant of its own (a writer, a job): the merchant goes in meta. */
export function callFor<A extends ActionName>(
	caller: Caller | Context,
	merchantId: string,
	action: A,
	params: Actions[A]["params"],
	opts: CallingOptions = {}
) {
	return call(caller, action, params, { ...opts, meta: { ...opts.meta, merchantId } });
}
