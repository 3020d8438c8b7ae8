import { Type, type Static } from "@sinclair/typebox";
import { XProfileOrNull } from "../../lib/schema.ts";
import { findIn } from "../../lib/lookups.ts";
import { bulkWriteInChunks, UPDATE_CHUNK } from "../../lib/bulk-updates.ts";
import { ContactModel, contactActivityFields, contactSearchFields, type Contact } from "../../models/contact.model.ts";
import { ContactActivityDayModel } from "../../models/contact-activity-day.model.ts";
import { markActivityDays } from "../../lib/activity-days.ts";
import { duplicateIdsOf } from "../../lib/ids.ts";
import { contactActivityStatements, type ContactActivity } from "../inbox/tally.ts";

// The contacts service's side of ingestion: the inbox's writer of an account asks, once per
// batch, for the contacts of the people who wrote (created by a unique insert on (account, X
// user), so racing writers never make two) and reports the activity figures it computed. The
// writer is the only source of those figures, so they are set from what is stored plus its
// changes, without recounting any history.

export const InboundPeopleParams = Type.Object({
	accountId: Type.String({ minLength: 1 }),
	people: Type.Array(Type.Object({ twitterUserId: Type.String({ minLength: 1 }), profile: XProfileOrNull, at: Type.String() }), {
		maxItems: 1000,
	}),
});

const Iso = Type.Union([Type.Null(), Type.String()]);
const Count = Type.Integer({ minimum: 0 });
export const ActivityParams = Type.Object({
	updates: Type.Array(
		Type.Object({
			contactId: Type.String(),
			inc: Type.Object({
				messagesReceived: Count,
				messagesSent: Count,
				conversationCount: Count,
				responseCount: Count,
				responseTimeTotalSeconds: Type.Number({ minimum: 0 }),
			}),
			lastInteractionAt: Iso,
			lastInboundAt: Iso,
			firstInteractionAt: Iso,
		}),
		{ maxItems: 1000 }
	),
});

type Person = Static<typeof InboundPeopleParams>["people"][number];

function newContact(merchantId: string, accountId: string, p: Person) {
	return new ContactModel({
		merchantId,
		accountId,
		twitterUserId: p.twitterUserId,
		username: p.profile?.username ?? "",
		usernameLower: (p.profile?.username ?? "").toLowerCase(),
		displayName: p.profile?.displayName ?? "",
		profileImageUrl: p.profile?.profileImageUrl ?? null,
		source: "inbound_message",
		firstInteractionAt: new Date(p.at),
		...contactActivityFields(new Date(p.at)),
		...contactSearchFields(p.profile?.username, p.profile?.displayName),
	}).toObject();
}

export async function ensureFromInbound(
	params: Static<typeof InboundPeopleParams> & { merchantId: string }
): Promise<Record<string, { contactId: string; created: boolean }>> {
	const { merchantId, accountId, people } = params;
	const result: Record<string, { contactId: string; created: boolean }> = {};
	const ids = people.map(p => p.twitterUserId);
	const found = await findIn<Contact>(ContactModel, { accountId }, "twitterUserId", ids, {
		twitterUserId: 1,
		username: 1,
		displayName: 1,
		profileImageUrl: 1,
	});
	const byXId = new Map(found.map(c => [c.twitterUserId, c]));

	const missing = people.filter(p => !byXId.has(p.twitterUserId));
	if (missing.length) {
		const docs = missing.map(p => newContact(merchantId, accountId, p));
		await markActivityDays(
			ContactActivityDayModel,
			merchantId,
			docs.map(d => d.activityAt)
		);
		let lost = new Set<unknown>();
		await ContactModel.insertMany(docs, { ordered: false, lean: true }).catch(err => {
			const duplicates = duplicateIdsOf(err, docs);
			if (!duplicates) throw err;
			lost = duplicates;
		});
		for (const d of docs) if (!lost.has(d._id)) result[d.twitterUserId] = { contactId: d._id as string, created: true };
		if (lost.size) {
			// Created meanwhile (by hand, or by an import): that one is the contact.
			const winners = await findIn<Contact>(
				ContactModel,
				{ accountId },
				"twitterUserId",
				docs.filter(d => lost.has(d._id)).map(d => d.twitterUserId),
				{ twitterUserId: 1 }
			);
			for (const c of winners) result[c.twitterUserId] = { contactId: c._id, created: false };
		}
	}

	const profileUpdates = [];
	for (const p of people) {
		const c = byXId.get(p.twitterUserId);
		if (!c) continue;
		result[p.twitterUserId] = { contactId: c._id, created: false };
		if (p.profile && (p.profile.username !== c.username || p.profile.profileImageUrl !== (c.profileImageUrl ?? null))) {
			profileUpdates.push({
				updateOne: {
					filter: { _id: c._id },
					update: {
						$set: {
							username: p.profile.username,
							usernameLower: p.profile.username.toLowerCase(),
							profileImageUrl: p.profile.profileImageUrl,
							...contactSearchFields(p.profile.username, c.displayName),
						},
					},
				},
			});
		}
	}
	await bulkWriteInChunks(ContactModel, profileUpdates);
	return result;
}

export async function recordActivity(params: Static<typeof ActivityParams> & { merchantId: string }): Promise<{ updated: number }> {
	const { merchantId, updates } = params;
	if (!updates.length) return { updated: 0 };
	// The days the contacts may move to are marked first: the list finds them there (lib/activity-buckets.ts).
	await markActivityDays(
		ContactActivityDayModel,
		merchantId,
		updates.map(u => (u.lastInteractionAt ? new Date(u.lastInteractionAt) : undefined))
	);
	// No read of the contacts: update operators whose result is the one computed from the stored
	// values (services/inbox/tally.ts). In order: a contact's statements depend on it. A contact
	// erased meanwhile, or another merchant's, matches none of them.
	await bulkWriteInChunks(
		ContactModel,
		updates.flatMap(u => contactActivityStatements(merchantId, u as ContactActivity)),
		UPDATE_CHUNK,
		true
	);
	return { updated: updates.length };
}

export const ReconcileActivityParams = Type.Object({
	merchantId: Type.String({ minLength: 1 }),
	figures: Type.Array(Type.Object({ contactId: Type.String(), messagesReceived: Count, messagesSent: Count, conversationCount: Count }), {
		maxItems: 1000,
	}),
	fix: Type.Boolean(),
});

const FIGURES = ["messagesReceived", "messagesSent", "conversationCount"] as const;

export async function reconcileActivity(params: Static<typeof ReconcileActivityParams>) {
	const stored = new Map(
		(
			await ContactModel.find(
				{ _id: { $in: params.figures.map(f => f.contactId) }, merchantId: params.merchantId },
				{ messagesReceived: 1, messagesSent: 1, conversationCount: 1 }
			).lean<Contact[]>()
		).map(c => [c._id, c])
	);
	const drift = [];
	const ops = [];
	for (const f of params.figures) {
		const c = stored.get(f.contactId);
		if (!c) continue;
		const set: Record<string, number> = {};
		for (const field of FIGURES) {
			if ((c[field] ?? 0) !== f[field]) {
				drift.push({ kind: "contact", id: f.contactId, field, stored: c[field] ?? 0, counted: f[field] });
				set[field] = f[field];
			}
		}
		if (Object.keys(set).length) ops.push({ updateOne: { filter: { _id: f.contactId }, update: { $set: set } } });
	}
	if (params.fix) await bulkWriteInChunks(ContactModel, ops);
	return drift;
}
