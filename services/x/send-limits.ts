import type { Config } from "../../lib/config.ts";
import type { SEND_KINDS } from "../../models/send-ledger.model.ts";

// The limits every DM to X counts against, whoever sends it (an agent, the bot, a campaign, a
// flow) and whichever node it runs on. Pure: which rules apply to which send. The ledger
// (send-ledger.ts) does the counting.

export type SendKind = (typeof SEND_KINDS)[number];
export type SendLimitsConfig = Config["sendLimits"];

/** Bulk sends may not use the share of the app's budget kept for replies. */
export const BULK_KINDS: readonly SendKind[] = ["campaign", "flow"];

export const MINUTE = 60_000;
export const DAY = 24 * 60 * MINUTE;

/** Which earlier sends a rule counts: this account's, this merchant's, or the whole app's. */
export type RuleScope = "account" | "merchant" | "app";

export interface LimitRule {
	name: string;
	scope: RuleScope;
	windowMs: number;
	limit: number;
	/** For the 429 message: "messages per 24 hours for this account". */
	describe: string;
}

/**
 * The rules for one send of `kind`:
 * - account_daily: the contract's 500 per rolling 24 hours per account;
 * - x_user_15min / x_user_daily: X's per-user DM pacing (15 per 15 minutes, 1,440 per 24 hours);
 * - x_app_daily: X's per-app 1,440 per 24 hours, shared by every merchant of the deployment;
 *   bulk kinds stop short of it by SEND_LIMIT_REPLY_RESERVE_PERCENT, kept for agents and the bot;
 * - merchant_share_daily: no merchant takes more than SEND_LIMIT_MERCHANT_SHARE_PERCENT of the
 *   app's budget, so one merchant's campaign cannot starve the others.
 */
export function rulesFor(kind: SendKind, cfg: SendLimitsConfig): LimitRule[] {
	const bulk = BULK_KINDS.includes(kind);
	const appLimit = bulk ? Math.floor((cfg.appPerDay * (100 - cfg.replyReservePercent)) / 100) : cfg.appPerDay;
	return [
		{
			name: "account_daily",
			scope: "account",
			windowMs: DAY,
			limit: cfg.accountPerDay,
			describe: "messages per 24 hours for this account",
		},
		{
			name: "x_user_15min",
			scope: "account",
			windowMs: 15 * MINUTE,
			limit: cfg.userPer15Min,
			describe: "messages per 15 minutes for this X account",
		},
		{ name: "x_user_daily", scope: "account", windowMs: DAY, limit: cfg.userPerDay, describe: "messages per 24 hours for this X account" },
		{
			name: "x_app_daily",
			scope: "app",
			windowMs: DAY,
			limit: appLimit,
			describe: bulk ? "bulk messages per 24 hours for this X app (the rest is kept for replies)" : "messages per 24 hours for this X app",
		},
		{
			name: "merchant_share_daily",
			scope: "merchant",
			windowMs: DAY,
			limit: Math.floor((cfg.appPerDay * cfg.merchantSharePercent) / 100),
			describe: "messages per 24 hours for one merchant (its share of the X app's budget)",
		},
	];
}

/** A rule a send would break, and when it frees up. */
export interface Violation {
	rule: LimitRule;
	used: number;
	retryAt: Date;
}

/** The moment every broken rule has room again (the latest of their times). */
export function retryAtOf(violations: Violation[]): Date {
	return new Date(Math.max(...violations.map(v => v.retryAt.getTime())));
}

export function violationMessage(violations: Violation[]): string {
	const worst = violations.reduce((a, b) => (b.retryAt > a.retryAt ? b : a));
	return `Send limit reached: ${worst.rule.limit} ${worst.rule.describe}; it frees up at ${retryAtOf(violations).toISOString()}`;
}
