import type { Context } from "moleculer";
import type { Campaign } from "../../models/campaign.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { renderTemplate, type RenderableTemplate } from "../templates/render.ts";
import { planAudience, type SegmentSnapshot } from "./audience.ts";
import { estimateFinish, type AccountLoad, type QuotaRule } from "./pacing.ts";
import { findLinks } from "./links.ts";
import { callFor } from "../../lib/calls.ts";

// POST /campaigns/:id/preview-launch: what starting now (or at startAt) would do, without
// doing it: who is reached and who is skipped (by reason), when the last message should go
// out under the send limits given what each account has already used, and three messages as
// they will read (links are rewritten to tracking URLs only when sent).

const SAMPLES = 3;

export async function previewLaunch(
	ctx: Context,
	c: Campaign & { _id: string },
	resolved: { template: unknown; segments: unknown },
	now: Date
) {
	const plan = await planAudience(c.merchantId, resolved.segments as SegmentSnapshot[], now, SAMPLES);
	const accounts = await Promise.all(
		Object.entries(plan.byAccount).map(async ([accountId, recipients]) => {
			// The campaign's own rules (kind "campaign": bulk sends leave the app's reply reserve alone).
			const answer = await callFor(ctx, c.merchantId, "x.checkSendAllowed", { accountId, kind: "campaign" });
			const rules: QuotaRule[] = answer.limits.map(l => ({
				name: l.name,
				scope: l.scope,
				limit: l.limit,
				used: l.used,
				windowMs: l.windowSeconds * 1000,
				resetAt: l.resetAt ? new Date(l.resetAt) : null,
			}));
			const daily = answer.limits.find(l => l.name === "account_daily");
			return {
				load: { accountId, recipients, rules } as AccountLoad,
				sendQuota: daily ? { limit: daily.limit, used: daily.used, remaining: daily.remaining, resetAt: daily.resetAt } : null,
			};
		})
	);
	const startAt = c.schedule?.startAt && new Date(c.schedule.startAt) > now ? new Date(c.schedule.startAt) : now;
	const endAt = c.schedule?.endAt ? new Date(c.schedule.endAt) : null;
	const estimate = estimateFinish({ start: startAt, endAt, accounts: accounts.map(a => a.load) });

	const contacts = await Promise.all(
		plan.sampleContactIds.map(id => ContactModel.findById(id, { username: 1, displayName: 1, attributes: 1 }).lean())
	);
	const samples = contacts.flatMap(contact => {
		if (!contact) return [];
		const rendered = renderTemplate(resolved.template as RenderableTemplate, {
			contact,
			variables: (c.variables as Record<string, unknown>) ?? {},
		});
		return [
			{
				contactId: contact._id,
				username: contact.username ?? "",
				displayName: contact.displayName ?? "",
				text: rendered.text,
				mediaUrl: rendered.mediaUrl,
				trackedLinks: findLinks(rendered.text).map(l => l.url),
				missingVariables: rendered.missing,
			},
		];
	});

	return {
		campaignId: c._id,
		status: c.status,
		audience: plan.total,
		eligible: plan.eligible,
		skipped: { total: plan.total - plan.eligible, byReason: plan.skipped },
		estimatedStartAt: startAt.toISOString(),
		estimatedFinishAt: estimate.finishAt?.toISOString() ?? null,
		sendableBeforeEnd: estimate.sendable,
		expectedExpired: estimate.expiring,
		accounts: accounts.map((a, i) => ({
			accountId: a.load.accountId,
			recipients: a.load.recipients,
			sendQuota: a.sendQuota,
			estimatedFinishAt: estimate.accounts[i].finishAt?.toISOString() ?? null,
		})),
		samples,
	};
}
