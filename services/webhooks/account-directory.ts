// Which merchant's account an X user id is, asked of the accounts service and remembered for a
// short while: every delivery of a burst names the same account, and asking once per delivery
// would put a query on the acknowledgement path. Connect and disconnect events clear it, so a
// disconnected account's deliveries are ignored from then on (the TTL covers a lost event).

export interface AccountRef {
	id: string;
	merchantId: string;
	twitterUserId: string;
}

const TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

export class AccountDirectory {
	private readonly entries = new Map<string, { account: AccountRef | null; until: number }>();
	private readonly lookup: (twitterUserId: string) => Promise<AccountRef | null>;
	private readonly now: () => number;

	constructor(lookup: (twitterUserId: string) => Promise<AccountRef | null>, now: () => number = Date.now) {
		this.lookup = lookup;
		this.now = now;
	}

	async get(twitterUserId: string): Promise<AccountRef | null> {
		const hit = this.entries.get(twitterUserId);
		if (hit && hit.until > this.now()) return hit.account;
		const account = await this.lookup(twitterUserId);
		if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
		// An unknown account is not remembered: it may be connected a moment later.
		if (account) this.entries.set(twitterUserId, { account, until: this.now() + TTL_MS });
		return account;
	}

	forget(twitterUserId?: string): void {
		if (twitterUserId) this.entries.delete(twitterUserId);
	}

	clear(): void {
		this.entries.clear();
	}
}
