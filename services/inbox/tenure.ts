import type { Conversation } from "../../models/conversation.model.ts";

// What an account's writer keeps between its batches while it holds the account. A lease is one
// unbroken run of claimed slots (lib/partition-lease.ts: the next slot is claimed only while the
// last is held, so nobody else wrote in between), and while it lasts this node is the only writer
// of the account's conversations: what it wrote last is what is stored. Keeping it saves the
// reads by key each batch would otherwise make (FerretDB on PostgreSQL answers them one query per
// key: lib/lookups.ts). Kept per lease, so a new holder starts empty; dropped when a batch fails
// (a write may have landed without being remembered) and on `inbox.tenuresStale`, which the
// inbox broadcasts when something else changed these documents (a contact erased, a reconcile
// that fixed figures).
//
// Contacts are the contacts service's: only their id and the profile last given to
// `contacts.ensureFromInbound` are kept, so a customer known to this tenure is not asked for
// again unless their profile changed.

export const TENURES_STALE = "inbox.tenuresStale";

interface KnownContact {
	contactId: string;
	username?: string | null;
	profileImageUrl?: string | null;
}

interface Profile {
	username: string;
	profileImageUrl?: string | null;
}

/** A tenure remembers at most this many contacts and conversations (then starts again). */
const MAX_REMEMBERED = 5_000;

export class Tenure {
	private readonly contacts = new Map<string, KnownContact>();
	private readonly conversations = new Map<string, Conversation>();
	/** contactId → the id of that contact's open conversation. */
	private readonly openOf = new Map<string, string>();

	/** The contact of X user `twitterUserId`, when known and its profile is unchanged (null: nothing given). */
	contactOf(twitterUserId: string, profile: Profile | null | undefined): string | null {
		const known = this.contacts.get(twitterUserId);
		if (!known) return null;
		if (profile && (profile.username !== known.username || (profile.profileImageUrl ?? null) !== (known.profileImageUrl ?? null)))
			return null;
		return known.contactId;
	}

	rememberContact(twitterUserId: string, contactId: string, profile: Profile | null | undefined): void {
		if (this.contacts.size >= MAX_REMEMBERED) this.contacts.clear();
		const known = this.contacts.get(twitterUserId);
		this.contacts.set(twitterUserId, {
			contactId,
			username: profile ? profile.username : known?.username,
			profileImageUrl: profile ? (profile.profileImageUrl ?? null) : known?.profileImageUrl,
		});
	}

	openConversationOf(contactId: string): Conversation | null {
		const id = this.openOf.get(contactId);
		return id ? (this.conversations.get(id) ?? null) : null;
	}

	conversation(id: string): Conversation | null {
		return this.conversations.get(id) ?? null;
	}

	/** A conversation as stored (read, or inserted by this writer). */
	rememberConversation(c: Conversation): void {
		if (this.conversations.size >= MAX_REMEMBERED) {
			this.conversations.clear();
			this.openOf.clear();
		}
		this.conversations.set(c._id, c);
		if (c.status === "open") this.openOf.set(c.contactId, c._id);
	}

	/** This writer's `$set` of a conversation, written. */
	written(id: string, set: Record<string, unknown>): void {
		const c = this.conversations.get(id);
		if (!c) return;
		Object.assign(c, set);
		if (c.status !== "open" && this.openOf.get(c.contactId) === id) this.openOf.delete(c.contactId);
	}
}

/** A tenure unused this long is forgotten (its lease is over: a writer with nothing left keeps it 3 s). */
const IDLE_MS = 60_000;

/** The tenures of the accounts this node writes, one per lease. */
export class Tenures {
	private readonly byAccount = new Map<string, { lease: object; tenure: Tenure; usedAt: number }>();

	of(accountId: string, lease: object, now = Date.now()): Tenure {
		for (const [id, t] of this.byAccount) if (now - t.usedAt > IDLE_MS) this.byAccount.delete(id);
		const held = this.byAccount.get(accountId);
		if (held?.lease === lease) {
			held.usedAt = now;
			return held.tenure;
		}
		const tenure = new Tenure();
		this.byAccount.set(accountId, { lease, tenure, usedAt: now });
		return tenure;
	}

	drop(accountId: string): void {
		this.byAccount.delete(accountId);
	}

	clear(): void {
		this.byAccount.clear();
	}
}
