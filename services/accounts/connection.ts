import type { Context } from "moleculer";
import { AccountModel, type Account } from "../../models/account.model.ts";
import { AccountLinkModel } from "../../models/account-link.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { ConversationModel } from "../../models/conversation.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { encryptSecret } from "../../lib/crypto.ts";
import { config } from "../../lib/config.ts";
import { ConflictError } from "../../lib/errors.ts";
import { isDuplicateKey } from "../../lib/ids.ts";
import { randomUUID } from "node:crypto";
import { callFor } from "../../lib/calls.ts";

/** Longer than any connect takes between its link and its account row. */
const STALE_LINK_MS = 60_000;

export interface XProfile {
	twitterUserId: string;
	username: string;
	displayName: string;
	profileImageUrl: string | null;
}

/**
 * Connects an X account (already checked with X) to a merchant. The link row decides who owns
 * it: the first insert wins, anyone else gets 409. A link whose account never got written (its
 * node died in between) or was disconnected is stale and is taken over.
 */
export async function connectAccount(
	merchantId: string,
	profile: XProfile,
	tokens: { oauthToken: string; oauthTokenSecret: string }
): Promise<Account> {
	const key = config().encryptionKey;
	const previous = await AccountModel.findOne({ merchantId, twitterUserId: profile.twitterUserId }).lean<Account>();
	const accountId = previous?._id ?? randomUUID();
	for (let attempt = 0; attempt < 2; attempt++) {
		try {
			await AccountLinkModel.create({ _id: profile.twitterUserId, merchantId, accountId });
			break;
		} catch (err) {
			if (!isDuplicateKey(err)) throw err;
			const link = await AccountLinkModel.findById(profile.twitterUserId).lean();
			const linked = link ? await AccountModel.findById(link.accountId, { status: 1 }).lean() : null;
			// Stale: its account was disconnected, or never got written (its node died in between).
			// A link younger than that is a connect still under way, which wins.
			const stale = !link || (linked ? linked.status !== "active" : Date.now() - new Date(link.linkedAt ?? 0).getTime() > STALE_LINK_MS);
			if (!stale || attempt > 0) throw new ConflictError("This X account is already connected", "ACCOUNT_ALREADY_CONNECTED");
			await AccountLinkModel.deleteOne({ _id: profile.twitterUserId, accountId: link?.accountId });
		}
	}
	const fields = {
		merchantId,
		twitterUserId: profile.twitterUserId,
		username: profile.username,
		displayName: profile.displayName,
		profileImageUrl: profile.profileImageUrl,
		status: "active" as const,
		oauthTokenEnc: encryptSecret(tokens.oauthToken, key),
		oauthTokenSecretEnc: encryptSecret(tokens.oauthTokenSecret, key),
		connectedAt: new Date(),
		disconnectedAt: null,
	};
	if (previous) await AccountModel.updateOne({ _id: accountId }, { $set: fields });
	else await AccountModel.create({ _id: accountId, ...fields });
	return (await AccountModel.findById(accountId).lean<Account>())!;
}

/** Disconnects: inactive, secrets erased, link released (its webhook events are then ignored). */
export async function disconnectAccount(account: Account): Promise<void> {
	await AccountModel.updateOne(
		{ _id: account._id },
		{ $set: { status: "inactive", disconnectedAt: new Date(), oauthTokenEnc: null, oauthTokenSecretEnc: null } }
	);
	await AccountLinkModel.deleteOne({ _id: account.twitterUserId, accountId: account._id });
}

function startOfMonth(now: Date, timeZone: string): Date {
	// The first day of this month in the account's timezone, as an instant.
	const parts = new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit" }).formatToParts(now);
	const y = Number(parts.find(p => p.type === "year")!.value);
	const m = Number(parts.find(p => p.type === "month")!.value);
	const utcGuess = Date.UTC(y, m - 1, 1);
	const offsetParts = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" }).formatToParts(new Date(utcGuess));
	const offset = offsetParts.find(p => p.type === "timeZoneName")?.value ?? "GMT";
	const match = /GMT([+-])(\d{2}):(\d{2})/.exec(offset);
	const minutes = match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3])) : 0;
	return new Date(utcGuess - minutes * 60_000);
}

export async function accountStatistics(ctx: Context, account: Account) {
	const since = startOfMonth(new Date(), account.businessHours?.timezone || "Asia/Ho_Chi_Minh");
	const [totalContacts, totalConversations, messagesThisMonth, sendQuota] = await Promise.all([
		ContactModel.countDocuments({ accountId: account._id }),
		ConversationModel.countDocuments({ accountId: account._id }),
		MessageModel.countDocuments({ accountId: account._id, sentAt: { $gte: since } }),
		account.status === "active"
			? callFor(ctx, account.merchantId, "x.sendQuota", { accountId: account._id }).catch(() => null)
			: Promise.resolve(null),
	]);
	return { totalContacts, totalConversations, messagesThisMonth, sendQuota };
}
