import uPlot from "uplot";
import { call } from "../api.ts";
import { act, field, h, replace } from "../dom.ts";
import { t } from "../i18n.ts";

// Overview cards and daily charts (uPlot) for a period read in a chosen time zone.

const ZONES = [
	"Asia/Ho_Chi_Minh",
	"Asia/Bangkok",
	"Asia/Singapore",
	"Asia/Tokyo",
	"UTC",
	"Europe/London",
	"America/New_York",
	"America/Los_Angeles",
];
const COLORS = ["#1d6fe0", "#1e8e4f", "#c0392b", "#e0a800"];

function isoDay(d: Date): string {
	return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
}

export function renderAnalytics(root: HTMLElement) {
	const today = new Date();
	const start = h("input", { type: "date", value: isoDay(new Date(today.getTime() - 6 * 86_400_000)) });
	const end = h("input", { type: "date", value: isoDay(today) });
	const zone = h(
		"select",
		{},
		ZONES.map(z => h("option", { value: z }, z))
	);
	const form = h(
		"form",
		{ class: "row panel", id: "analytics-period" },
		field(t("analytics.from"), "startDate", start),
		field(t("analytics.to"), "endDate", end),
		field(t("analytics.timezone"), "timezone", zone),
		h("button", { type: "submit" }, t("analytics.show")),
		h("div", { class: "form-error" })
	);
	const cards = h("div", { class: "cards", id: "analytics-cards" });
	const charts = h("div", {
		class: "grid",
		id: "analytics-charts",
		style: "grid-template-columns:repeat(auto-fit,minmax(380px,1fr));margin-top:12px",
	});
	root.append(form, h("div", { style: "margin-top:12px" }, cards), charts);
	const plots: uPlot[] = [];

	async function load() {
		await act(form, null, async () => {
			const query = { startDate: start.value, endDate: end.value, timezone: zone.value };
			const [overview, contacts, conversations, campaigns] = await Promise.all([
				call("GET /analytics/overview", { query }),
				call("GET /analytics/contacts", { query }),
				call("GET /analytics/conversations", { query }),
				call("GET /analytics/campaigns", { query }),
			]);
			const s = overview.summary;
			const card = (label: string, value: unknown, trend?: number | null) =>
				h(
					"div",
					{ class: "card" },
					h("div", { class: "muted" }, label),
					h("div", { class: "value" }, value === null || value === undefined ? "—" : String(value)),
					trend === undefined
						? null
						: h(
								"div",
								{ class: `trend ${trend === null ? "" : trend >= 0 ? "up" : "down"}` },
								trend === null ? t("analytics.noPrevious") : `${trend >= 0 ? "▲" : "▼"} ${Math.abs(trend)}% ${t("analytics.vsPrevious")}`
							)
				);
			replace(
				cards,
				card(t("analytics.totalContacts"), s.totalContacts),
				card(t("analytics.newContacts"), s.newContacts, overview.trends.contactsGrowth),
				card(t("analytics.conversations"), s.totalConversations, overview.trends.conversationsGrowth),
				card(t("analytics.active"), s.activeConversations),
				card(t("analytics.sent"), s.messagesSent, overview.trends.messagesGrowth),
				card(t("analytics.received"), s.messagesReceived),
				card(t("analytics.responseTime"), s.averageResponseTime),
				card(t("analytics.firstResponse"), conversations.summary.averageFirstResponseTime),
				card(t("analytics.campaignsCompleted"), s.campaignsCompleted)
			);
			for (const p of plots.splice(0)) p.destroy();
			replace(charts);
			chart(t("analytics.chartConversations"), conversations.daily, [
				["opened", t("analytics.opened")],
				["closed", t("analytics.closed")],
				["escalations", t("analytics.escalations")],
			]);
			chart(t("analytics.chartContacts"), contacts.daily, [
				["newContacts", t("analytics.newContacts")],
				["optedOut", t("analytics.optedOut")],
			]);
			chart(t("analytics.chartCampaigns"), campaigns.daily, [
				["delivered", t("metrics.delivered")],
				["opened", t("metrics.opened")],
				["failed", t("metrics.failed")],
			]);
		});
	}

	function chart(title: string, daily: any[], series: [string, string][]) {
		const box = h("div", { class: "panel chart", "data-chart": title }, h("h3", {}, title));
		charts.append(box);
		const table = h(
			"table",
			{ class: "chart-data" },
			h(
				"tr",
				{},
				h("th", {}, t("analytics.date")),
				series.map(([, label]) => h("th", {}, label))
			),
			daily
				.filter(d => series.some(([k]) => d[k]))
				.map(d =>
					h(
						"tr",
						{},
						h("td", {}, d.date),
						series.map(([k]) => h("td", {}, String(d[k] ?? 0)))
					)
				)
		);
		// Drawn once every box is in the grid, so each knows its own width.
		requestAnimationFrame(() => {
			const data: uPlot.AlignedData = [daily.map((_d, i) => i), ...series.map(([key]) => daily.map(d => Number(d[key] ?? 0)))];
			plots.push(
				new uPlot(
					{
						width: Math.max(260, box.clientWidth - 26),
						height: 200,
						scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
						series: [
							{ label: t("analytics.date"), value: (_u, i) => daily[i]?.date ?? "—" },
							...series.map(([, label], i) => ({ label, stroke: COLORS[i], width: 2, points: { show: true } })),
						],
						axes: [
							{ incrs: [1, 2, 7, 14, 30, 91], values: (_u, splits) => splits.map(i => daily[i]?.date.slice(5) ?? "") },
							{ size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000] },
						],
					},
					data,
					box
				)
			);
			box.append(table);
		});
	}

	form.addEventListener("submit", e => {
		e.preventDefault();
		void load();
	});
	void load();
	return () => {
		for (const p of plots) p.destroy();
	};
}
