import { randomBytes } from "node:crypto";
import { config } from "../../lib/config.ts";
import { encryptSecret } from "../../lib/crypto.ts";
import { AccountLinkModel } from "../../models/account-link.model.ts";
import { AccountModel, type Account } from "../../models/account.model.ts";
import type { SandboxUser, XSandbox } from "../../sandbox/x-sandbox.ts";
import { client, tokenFor } from "./node.ts";

// The one way tests make X accounts. `createAccount` is the core: it stores an account of a
// merchant as connecting one does (the account row with its encrypted OAuth tokens, and the link
// row that makes the X user belong to that merchant while the account is active). The others
// choose whose X identity it is: a made-up one (no X needed: webhooks, AI, analytics), a new
// user of the test's X sandbox (X answers for it), or a connection through POST /accounts.

/** An X identity an account is connected as: a sandbox user, or one made up by `createAccount`. */
export interface XIdentity {
	id: string;
	username: string;
	name: string;
	token: string;
	tokenSecret: string;
}

let nextUser = 3_000_000_000;
const nextUserId = () => String(nextUser++);

/** A new X user of the sandbox with its own OAuth token. */
export function newXUser(sandbox: XSandbox): SandboxUser {
	return sandbox.addUser({
		token: `tok-${randomBytes(8).toString("hex")}`,
		tokenSecret: `sec-${randomBytes(16).toString("hex")}`,
		id: nextUserId(),
	});
}

/** A made-up X identity, known to no sandbox; `fields` pick its id or name. */
function madeUpUser(fields: { twitterUserId?: string; username?: string; displayName?: string }): XIdentity {
	const id = fields.twitterUserId ?? nextUserId();
	return {
		id,
		username: fields.username ?? `shop_${id}`,
		name: fields.displayName ?? `Shop ${id}`,
		token: `token-${id}`,
		tokenSecret: `secret-${id}`,
	};
}

export type StoredAccount = Account & { _id: string };

/**
 * The core: an account of `merchantId` connected as `user` (made up when not given), stored as
 * connecting stores it. `fields` override the row (`status: "inactive"`, `_id`, business hours…);
 * an account that is not active has no link, as after a disconnect.
 */
export async function createAccount(
	merchantId: string,
	opts: { user?: XIdentity; fields?: Partial<Account> } = {}
): Promise<{ account: StoredAccount; user: XIdentity }> {
	const fields = opts.fields ?? {};
	const user = opts.user ?? madeUpUser(fields);
	const key = config().encryptionKey;
	const doc = await AccountModel.create({
		merchantId,
		twitterUserId: user.id,
		username: user.username,
		displayName: user.name,
		oauthTokenEnc: encryptSecret(user.token, key),
		oauthTokenSecretEnc: encryptSecret(user.tokenSecret, key),
		...fields,
	});
	const account = doc.toObject({ transform: false }) as unknown as StoredAccount;
	if (account.status === "active") await AccountLinkModel.create({ _id: account.twitterUserId, merchantId, accountId: account._id });
	return { account, user };
}

/** An account of `merchantId` connected as a new X user of the sandbox (X answers for its tokens). */
export function connectAccount(sandbox: XSandbox, merchantId: string, fields: Partial<Account> = {}) {
	return createAccount(merchantId, { user: newXUser(sandbox), fields });
}

/** Connects a new X user's account through POST /accounts, as a merchant does (X checks the token). */
export async function connectThroughApi(sandbox: XSandbox, url: string, merchantId: string): Promise<{ account: any; user: SandboxUser }> {
	const user = newXUser(sandbox);
	const res = await client(url, tokenFor(merchantId)).post("/accounts", { oauthToken: user.token, oauthTokenSecret: user.tokenSecret });
	if (res.status !== 200) throw new Error(`connecting an account answered ${res.status}: ${JSON.stringify(res.body)}`);
	return { account: res.body.data, user };
}
