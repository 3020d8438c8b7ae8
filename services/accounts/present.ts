import type { Account } from "../../models/account.model.ts";

/** The public view of an account: an explicit list of fields, so no secret can slip out. */
export function presentAccount(a: Account) {
	return {
		id: a._id,
		merchantId: a.merchantId,
		twitterUserId: a.twitterUserId,
		username: a.username,
		displayName: a.displayName,
		profileImageUrl: a.profileImageUrl ?? null,
		status: a.status,
		webhookId: a.webhookId ?? null,
		connectedAt: a.connectedAt,
		autoReplyEnabled: a.autoReplyEnabled ?? false,
		businessHours: a.businessHours ?? null,
	};
}
