import { randomUUID } from "node:crypto";
import { ContactModel } from "../../models/contact.model.ts";
import { CampaignModel } from "../../models/campaign.model.ts";
import { CampaignDeliveryModel } from "../../models/campaign-delivery.model.ts";
import { connectAccount } from "./accounts.ts";
import { client, tokenFor, type TestNode } from "./node.ts";
import type { TestSandbox } from "./x-sandbox.ts";

// The campaign suites' world: a merchant with a connected X account, eligible contacts and a
// draft campaign to them, made through the API as a merchant would (templates, segments,
// campaigns); and what the tests read back (deliveries per status, DMs the sandbox received).

let nextTwitterId = 8_200_000_000;

/** A new merchant with a connected account, `n` contacts who wrote to it (eligible) and a draft campaign to them. */
export async function campaignOf(x: TestSandbox, node: TestNode, n: number, schedule?: { startAt?: string; endAt?: string }) {
	const merchantId = `m-${randomUUID().slice(0, 8)}`;
	const api = client(node.url, tokenFor(merchantId));
	const { account } = await connectAccount(x.sandbox, merchantId);
	const tag = `t-${randomUUID().slice(0, 6)}`;
	const people = await ContactModel.create(
		Array.from({ length: n }, (_, i) => ({
			merchantId,
			accountId: account._id,
			twitterUserId: String(nextTwitterId++),
			displayName: `Khách ${i + 1}`,
			tags: [tag],
			lastInboundAt: new Date(),
		}))
	);
	const template = (await api.post("/templates", { name: `tpl ${tag}`, content: "Chào {{name}}, Tết này giảm 20%!" })).body.data;
	const segment = (await api.post("/segments", { name: `seg ${tag}`, conditions: [{ field: "tags", operator: "contains", value: tag }] }))
		.body.data;
	const created = await api.post("/campaigns", {
		name: `Chiến dịch ${tag}`,
		templateId: template.id,
		segmentIds: [segment.id],
		...(schedule ? { schedule } : {}),
	});
	if (created.status !== 200) throw new Error(`POST /campaigns answered ${created.status}: ${JSON.stringify(created.body)}`);
	return {
		api,
		merchantId,
		accountId: account._id as string,
		campaignId: created.body.data.id as string,
		ids: people.map(p => p.twitterUserId),
		contactIds: people.map(p => p._id as string),
	};
}

/** DMs the sandbox received per recipient (X user id), in the order of `ids`. */
export const receivedBy = (x: TestSandbox, ids: string[]) => ids.map(id => x.sandbox.received().filter(d => d.recipientId === id).length);

/** The campaign's deliveries counted by status. */
export async function deliveryStatuses(campaignId: string): Promise<Record<string, number>> {
	const out: Record<string, number> = {};
	for (const r of await CampaignDeliveryModel.find({ campaignId }, { status: 1 }).lean()) out[r.status] = (out[r.status] ?? 0) + 1;
	return out;
}

export const campaignStatus = async (campaignId: string) => (await CampaignModel.findById(campaignId, { status: 1 }).lean())?.status;
