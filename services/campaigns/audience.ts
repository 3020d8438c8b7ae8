import { AccountModel } from "../../models/account.model.ts";
import { onlyDuplicates } from "../../lib/ids.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { CampaignDeliveryModel, deliveryId } from "../../models/campaign-delivery.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { segmentQuery, type SegmentMatch } from "../segments/compile.ts";
import { automatedSendSkipReason, type SkipReason } from "../inbox/eligibility.ts";

// Who a campaign reaches: the contacts of any of its segments (each counted once), each to be
// sent from its own account, under X's rules for automated DMs (services/inbox/eligibility.ts,
// the same function the inbox applies at send time). Everyone else is kept as `skipped` with
// the reason. Contacts are read as one streamed query: memory stays flat whatever the size.

export interface SegmentSnapshot {
	id: string;
	name?: string;
	match?: SegmentMatch | null;
	conditions: unknown;
}

export const AUDIENCE_FIELDS = { _id: 1, accountId: 1, optedOut: 1, optedIn: 1, lastInboundAt: 1 } as const;
const PAGE = 1000;

export interface AudienceContact {
	_id: string;
	accountId: string;
	optedOut?: boolean | null;
	optedIn?: boolean | null;
	lastInboundAt?: Date | null;
}

export function audienceQuery(merchantId: string, segments: SegmentSnapshot[], now: Date): Record<string, unknown> {
	const parts = segments.map(s => segmentQuery(merchantId, { conditions: s.conditions, match: s.match ?? "all" }, now));
	return parts.length === 1 ? parts[0] : { $or: parts, merchantId };
}

/** The merchant's accounts that can send (connected and active). */
export async function activeAccountIds(merchantId: string): Promise<Set<string>> {
	const rows = await AccountModel.find({ merchantId }, { _id: 1, status: 1, oauthTokenEnc: 1 }).lean();
	return new Set(rows.filter(a => a.status === "active" && a.oauthTokenEnc).map(a => a._id));
}

export function skipReasonOf(contact: AudienceContact, active: Set<string>): SkipReason | null {
	return automatedSendSkipReason("campaign", { accountActive: active.has(contact.accountId), contact });
}

/** Every contact of the audience, a page at a time. */
export async function forEachPage(query: Record<string, unknown>, fn: (page: AudienceContact[]) => Promise<void>): Promise<void> {
	const cursor = ContactModel.find(query, AUDIENCE_FIELDS).lean<AudienceContact[]>().cursor({ batchSize: PAGE });
	let page: AudienceContact[] = [];
	for await (const doc of cursor) {
		page.push(doc as unknown as AudienceContact);
		if (page.length >= PAGE) {
			await fn(page);
			page = [];
		}
	}
	if (page.length) await fn(page);
}

export interface AudiencePlan {
	total: number;
	eligible: number;
	skipped: Partial<Record<SkipReason, number>>;
	/** Eligible recipients per sending account. */
	byAccount: Record<string, number>;
	/** The first few eligible contacts, for rendered samples. */
	sampleContactIds: string[];
}

/** Counts the audience without writing anything (the targetContactCount and preview-launch). */
export async function planAudience(merchantId: string, segments: SegmentSnapshot[], now: Date, samples = 3): Promise<AudiencePlan> {
	const active = await activeAccountIds(merchantId);
	const plan: AudiencePlan = { total: 0, eligible: 0, skipped: {}, byAccount: {}, sampleContactIds: [] };
	await forEachPage(audienceQuery(merchantId, segments, now), async page => {
		for (const contact of page) {
			plan.total++;
			const reason = skipReasonOf(contact, active);
			if (reason) {
				plan.skipped[reason] = (plan.skipped[reason] ?? 0) + 1;
				continue;
			}
			plan.eligible++;
			plan.byAccount[contact.accountId] = (plan.byAccount[contact.accountId] ?? 0) + 1;
			if (plan.sampleContactIds.length < samples) plan.sampleContactIds.push(contact._id);
		}
	});
	return plan;
}

/** An unordered bulk insert that failed only on rows already there (written before). */
export { onlyDuplicates };

/**
 * Writes one delivery row per audience contact: `pending`, or `skipped` with the reason.
 * Written again after a crash half-way, the rows already there stay as they are (same _id).
 */
export async function snapshotAudience(
	campaign: { _id: string; merchantId: string; segments: SegmentSnapshot[] },
	now: Date,
	onProgress: (counts: { total: number; eligible: number; skipped: number }) => void | Promise<void>
): Promise<{ total: number; eligible: number; skipped: number }> {
	const active = await activeAccountIds(campaign.merchantId);
	const counts = { total: 0, eligible: 0, skipped: 0 };
	const byAccount = new Map<string, number>();
	const createdAt = new Date();
	await forEachPage(audienceQuery(campaign.merchantId, campaign.segments, now), async page => {
		const rows = page.map(contact => {
			const reason = skipReasonOf(contact, active);
			if (reason) counts.skipped++;
			else {
				counts.eligible++;
				byAccount.set(contact.accountId, (byAccount.get(contact.accountId) ?? 0) + 1);
			}
			return {
				_id: deliveryId(campaign._id, contact._id),
				merchantId: campaign.merchantId,
				campaignId: campaign._id,
				contactId: contact._id,
				accountId: contact.accountId,
				status: reason ? "skipped" : "pending",
				reason,
				claimedAt: null,
				messageId: null,
				conversationId: null,
				twitterMessageId: null,
				sentAt: null,
				finishedAt: reason ? createdAt : null,
				openedAt: null,
				clickedAt: null,
				repliedAt: null,
				replyMessageId: null,
				createdAt,
			};
		});
		counts.total += rows.length;
		try {
			await CampaignDeliveryModel.collection.insertMany(rows as never[], { ordered: false });
		} catch (err) {
			if (!onlyDuplicates(err)) throw err;
		}
		await onProgress({ ...counts });
	});
	// Counted from the whole audience on every pass, so a snapshot finished after a crash sets the same.
	const accounts = [...byAccount].sort(([a, n], [b, m]) => m - n || a.localeCompare(b));
	await CampaignModel.updateOne(
		{ _id: campaign._id },
		{ $set: { accountIds: accounts.map(([id]) => id).sort(), accountId: accounts[0]?.[0] ?? null } }
	);
	return counts;
}
