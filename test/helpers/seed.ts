import { AccountModel } from "../../models/account.model.ts";
import { AccountLinkModel } from "../../models/account-link.model.ts";
import { encryptSecret } from "../../lib/crypto.ts";
import { config } from "../../lib/config.ts";

let counter = 0;

/** An active connected account (with its link row, as connecting makes one). */
export async function seedAccount(
	merchantId: string,
	opts: { twitterUserId?: string; username?: string; token?: string; secret?: string } = {}
) {
	counter++;
	const twitterUserId = opts.twitterUserId ?? `${9000000 + counter}${Math.floor(Math.random() * 1000)}`;
	const key = config().encryptionKey;
	const account = await AccountModel.create({
		merchantId,
		twitterUserId,
		username: opts.username ?? `shop_${counter}`,
		displayName: `Shop ${counter}`,
		oauthTokenEnc: encryptSecret(opts.token ?? `token-${twitterUserId}`, key),
		oauthTokenSecretEnc: encryptSecret(opts.secret ?? `secret-${twitterUserId}`, key),
	});
	await AccountLinkModel.create({ _id: twitterUserId, merchantId, accountId: account._id });
	return account.toObject() as { _id: string; merchantId: string; twitterUserId: string; username: string };
}
