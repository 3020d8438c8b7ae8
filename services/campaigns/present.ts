import type { Campaign } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel, DELIVERY_STATUSES } from "../../models/campaign-delivery.model.ts";
import type { DeliveryCounts } from "./metrics.ts";

const iso = (d: Date | string | null | undefined) => (d ? new Date(d).toISOString() : null);

export function presentCampaign(c: Campaign & { _id: string }) {
	return {
		id: c._id,
		merchantId: c.merchantId,
		name: c.name,
		status: c.status,
		templateId: c.templateId,
		segmentIds: c.segmentIds ?? [],
		schedule: { startAt: iso(c.schedule?.startAt), endAt: iso(c.schedule?.endAt) },
		variables: c.variables ?? {},
		targetContactCount: c.targetContactCount ?? null,
		startedAt: iso(c.startedAt),
		completedAt: iso(c.completedAt),
		cancelledAt: iso(c.cancelledAt),
		createdAt: iso((c as { createdAt?: Date }).createdAt),
		updatedAt: iso((c as { updatedAt?: Date }).updatedAt),
	};
}

const EPOCH = new Date(0);

/** Every figure of a campaign, counted from its delivery rows (indexed counts on MongoDB). */
export async function countDeliveries(campaignId: string): Promise<DeliveryCounts> {
	const [byStatus, opened, clicked, replied] = await Promise.all([
		Promise.all(DELIVERY_STATUSES.map(status => CampaignDeliveryModel.countDocuments({ campaignId, status }))),
		CampaignDeliveryModel.countDocuments({ campaignId, openedAt: { $gt: EPOCH } }),
		CampaignDeliveryModel.countDocuments({ campaignId, clickedAt: { $gt: EPOCH } }),
		CampaignDeliveryModel.countDocuments({ campaignId, repliedAt: { $gt: EPOCH } }),
	]);
	const counts = Object.fromEntries(DELIVERY_STATUSES.map((s, i) => [s, byStatus[i]])) as Record<
		(typeof DELIVERY_STATUSES)[number],
		number
	>;
	return { ...counts, opened, clicked, replied };
}
