import { CONTACT_SOURCES } from "../../models/contact.model.ts";
import { utcDayOf } from "./buckets.ts";
import { averageSeconds, formatDuration, growth, percent } from "./format.ts";
import { previousPeriod, type Period } from "./period.ts";
import { breakdown, byAccount, dailySeries, readDetails, readTotals, sumRange, utcDaysOf, type Scope, type Sum } from "./read.ts";

// The four answers, each from the day rows of the period (never from messages). Definitions
// (docs/analytics.md): "total*" are stocks at the end of the period, everything else a flow
// within it; a period is whole local days in the requested zone.

const periodOf = (p: Period) => ({ startDate: p.startDate, endDate: p.endDate, timezone: p.timezone });
const duration = (sum: Sum) => {
	const seconds = averageSeconds(sum.s, sum.n);
	return { text: formatDuration(seconds), seconds };
};
const TOP_TAGS = 10;

export async function overview(scope: Scope, period: Period) {
	const previous = previousPeriod(period);
	const [p0, s0, e0] = [previous.bounds[0], period.bounds[0], period.bounds[period.bounds.length - 1]];
	// From the first day: the stocks at the end of the period sum all of them.
	const totals = await readTotals(scope, utcDayOf(e0 - 1));
	const sum = (type: string, from: number, to: number) => sumRange(totals, type, from, to);

	const now = {
		contacts: sum("contact", s0, e0).n,
		conversations: sum("conv", s0, e0).n,
		sent: sum("out", s0, e0).n,
		received: sum("in", s0, e0).n,
	};
	const before = {
		contacts: sum("contact", p0, s0).n,
		conversations: sum("conv", p0, s0).n,
		messages: sum("out", p0, s0).n + sum("in", p0, s0).n,
	};
	const totalConversations = sum("conv", -Infinity, e0).n;
	const response = duration(sum("resp", s0, e0));
	return {
		period: periodOf(period),
		summary: {
			totalContacts: sum("contact", -Infinity, e0).n,
			newContacts: now.contacts,
			totalConversations,
			activeConversations: totalConversations - sum("close", -Infinity, e0).n,
			messagesSent: now.sent,
			messagesReceived: now.received,
			campaignsCompleted: sum("campaign", s0, e0).n,
			averageResponseTime: response.text,
			averageResponseTimeSeconds: response.seconds,
		},
		trends: {
			contactsGrowth: growth(now.contacts, before.contacts),
			conversationsGrowth: growth(now.conversations, before.conversations),
			messagesGrowth: growth(now.sent + now.received, before.messages),
		},
		previousPeriod: { startDate: previous.startDate, endDate: previous.endDate },
	};
}

export async function contacts(scope: Scope, period: Period) {
	const { from, to } = utcDaysOf(period);
	const e0 = period.bounds[period.bounds.length - 1];
	const [rows, stock] = await Promise.all([readDetails(scope, ["contact", "optout"], from, to), readTotals(scope, to)]);
	const created = dailySeries(rows, period, "contact");
	const optedOut = dailySeries(rows, period, "optout");
	const sources = breakdown(rows, period, "contact", "source:");
	const tags = breakdown(rows, period, "contact", "tag:");
	const accounts = byAccount(rows, period, "contact");
	const knownSources: string[] = [...CONTACT_SOURCES];
	return {
		period: periodOf(period),
		summary: {
			totalContacts: sumRange(stock, "contact", -Infinity, e0).n,
			newContacts: created.reduce((a, d) => a + d.n, 0),
			optedOut: optedOut.reduce((a, d) => a + d.n, 0),
		},
		daily: period.days.map((date, i) => ({ date, newContacts: created[i].n, optedOut: optedOut[i].n })),
		bySource: [...knownSources, ...[...sources.keys()].filter(s => !knownSources.includes(s)).sort()].map(source => ({
			source,
			count: sources.get(source)?.n ?? 0,
		})),
		byAccount: [...accounts]
			.map(([accountId, s]) => ({ accountId, newContacts: s.n }))
			.sort((a, b) => b.newContacts - a.newContacts || a.accountId.localeCompare(b.accountId)),
		topTags: [...tags]
			.map(([tag, s]) => ({ tag, count: s.n }))
			.sort((a, b) => b.count - a.count || a.tag.localeCompare(b.tag))
			.slice(0, TOP_TAGS),
	};
}

export async function conversations(scope: Scope, period: Period) {
	const { from, to } = utcDaysOf(period);
	const rows = await readDetails(scope, ["conv", "close", "first", "esc", "resp"], from, to);
	const opened = dailySeries(rows, period, "conv");
	const closed = dailySeries(rows, period, "close");
	const escalated = dailySeries(rows, period, "esc");
	const first = dailySeries(rows, period, "first");
	const replies = dailySeries(rows, period, "resp");
	const total = (series: Sum[]) => series.reduce((a, d) => ({ n: a.n + d.n, s: a.s + d.s }), { n: 0, s: 0 });
	const firstAll = total(first);
	const closedAll = total(closed);
	const byBot = breakdown(rows, period, "first", "origin:").get("bot")?.n ?? 0;
	const closedBy = breakdown(rows, period, "close", "assignee:");
	const firstBy = breakdown(rows, period, "first", "assignee:");
	const assignees = [...new Set([...closedBy.keys(), ...firstBy.keys()])].sort();
	const firstResponse = duration(firstAll);
	const resolution = duration(closedAll);
	return {
		period: periodOf(period),
		summary: {
			opened: total(opened).n,
			closed: closedAll.n,
			escalations: total(escalated).n,
			averageFirstResponseTime: firstResponse.text,
			averageFirstResponseSeconds: firstResponse.seconds,
			averageResolutionTime: resolution.text,
			averageResolutionSeconds: resolution.seconds,
			answeredByBot: { conversations: byBot, percent: percent(byBot, firstAll.n) },
		},
		daily: period.days.map((date, i) => ({ date, opened: opened[i].n, closed: closed[i].n, escalations: escalated[i].n })),
		// Per local day: every reply's response time (as the overview's average) and the first
		// responses'; a day without any has null averages (no reply is not an instant reply).
		responseTimeTrend: period.days.map((date, i) => ({
			date,
			responses: replies[i].n,
			averageResponseSeconds: averageSeconds(replies[i].s, replies[i].n),
			firstResponses: first[i].n,
			averageFirstResponseSeconds: averageSeconds(first[i].s, first[i].n),
		})),
		byAssignee: assignees
			.map(userId => {
				const c = closedBy.get(userId) ?? { n: 0, s: 0 };
				const f = firstBy.get(userId) ?? { n: 0, s: 0 };
				const res = duration(c);
				const fr = duration(f);
				return {
					userId: userId || null,
					closed: c.n,
					averageResolutionTime: res.text,
					averageResolutionSeconds: res.seconds,
					firstResponses: f.n,
					averageFirstResponseTime: fr.text,
					averageFirstResponseSeconds: fr.seconds,
				};
			})
			.sort((a, b) => b.closed - a.closed || b.firstResponses - a.firstResponses),
	};
}

/** What the campaigns service may add per campaign (`campaigns.metricsFor`): its name, status, lifetime metrics. */
export interface CampaignInfo {
	name?: string;
	status?: string;
	accountId?: string | null;
	accountIds?: string[];
	metrics?: Record<string, number>;
}

const rates = (delivered: number, failed: number, opened: number) => {
	const totalSent = delivered + failed;
	return {
		totalSent,
		delivered,
		opened,
		failed,
		deliveryRate: percent(delivered, totalSent),
		openRate: percent(opened, delivered),
		failureRate: percent(failed, totalSent),
	};
};

/** Campaign figures of the period; `info` (by campaign id) from the campaigns service when it can answer. */
export async function campaigns(scope: Scope, period: Period, info: (ids: string[]) => Promise<Record<string, CampaignInfo> | null>) {
	const { from, to } = utcDaysOf(period);
	const rows = await readDetails(scope, ["out", "fail", "read", "campaign"], from, to);
	const delivered = breakdown(rows, period, "out", "campaign:");
	const failed = breakdown(rows, period, "fail", "campaign:");
	const opened = breakdown(rows, period, "read", "campaign:");
	const completed = breakdown(rows, period, "campaign", "campaign:");
	const ids = [...new Set([...delivered.keys(), ...failed.keys(), ...opened.keys(), ...completed.keys()])].sort();
	const known = ids.length ? await info(ids) : {};
	const daily = {
		delivered: dailySeries(rows, period, "out", "origin:campaign"),
		failed: dailySeries(rows, period, "fail", "origin:campaign"),
		opened: dailySeries(rows, period, "read", "origin:campaign"),
		completed: dailySeries(rows, period, "campaign"),
	};
	const all = (series: Sum[]) => series.reduce((a, d) => a + d.n, 0);
	return {
		period: periodOf(period),
		totals: { campaignsCompleted: all(daily.completed), ...rates(all(daily.delivered), all(daily.failed), all(daily.opened)) },
		daily: period.days.map((date, i) => ({
			date,
			delivered: daily.delivered[i].n,
			failed: daily.failed[i].n,
			opened: daily.opened[i].n,
			completed: daily.completed[i].n,
		})),
		campaigns: ids
			.map(id => ({
				campaignId: id,
				name: known?.[id]?.name ?? null,
				status: known?.[id]?.status ?? null,
				accountId: known?.[id]?.accountId ?? null,
				accountIds: known?.[id]?.accountIds ?? [],
				completedInPeriod: (completed.get(id)?.n ?? 0) > 0,
				...rates(delivered.get(id)?.n ?? 0, failed.get(id)?.n ?? 0, opened.get(id)?.n ?? 0),
				// Clicks and replies are the campaign's own (lifetime): analytics keeps no facts of them.
				clicked: known?.[id]?.metrics?.clicked ?? null,
				replied: known?.[id]?.metrics?.replied ?? null,
				lifetime: known?.[id]?.metrics ?? null,
			}))
			.sort((a, b) => b.totalSent - a.totalSent || a.campaignId.localeCompare(b.campaignId)),
		/** Figures this service cannot count itself and could not get from the campaigns service. */
		unavailable: known === null ? ["name", "status", "clicked", "replied"] : [],
	};
}
