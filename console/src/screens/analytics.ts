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

/** Seconds as the API writes durations: "45s", "3m 45s", "1h 0m 5s". */
export function duration(seconds: number): string {
	let rest = Math.max(0, Math.round(seconds));
	const parts: string[] = [];
	for (const [unit, size] of [
		["d", 86_400],
		["h", 3_600],
		["m", 60],
	] as const) {
		const n = Math.floor(rest / size);
		rest -= n * size;
		if (n > 0 || parts.length) parts.push(`${n}${unit}`);
	}
	parts.push(`${rest}s`);
	return parts.join(" ");
}

/** The date (YYYY-MM-DD) of an instant in a time zone: the periods are read in the zone picked. */
function isoDay(d: Date, timeZone: string): string {
	return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(d);
}

export function renderAnalytics(root: HTMLElement) {
	const today = new Date();
	// The last seven days, today being today in the default zone (the first of ZONES).
	const start = h("input", { type: "date", value: isoDay(new Date(today.getTime() - 6 * 86_400_000), ZONES[0]) });
	const end = h("input", { type: "date", value: isoDay(today, ZONES[0]) });
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
			chart(
				t("analytics.chartResponse"),
				conversations.responseTimeTrend,
				[
					["averageResponseSeconds", t("analytics.responseTime")],
					["averageFirstResponseSeconds", t("analytics.firstResponse")],
				],
				{ seconds: true, count: ["responses", t("analytics.replies")] }
			);
		});
	}

	/**
	 * A line chart of daily series. Counts are 0 on a quiet day; durations (`seconds`) are null
	 * there (no reply is not an instant reply): the line breaks and the table skips the day.
	 * `count` adds a column (e.g. the replies behind an average) to the table.
	 */
	function chart(title: string, daily: any[], series: [string, string][], opts: { seconds?: boolean; count?: [string, string] } = {}) {
		const box = h("div", { class: "panel chart", "data-chart": title }, h("h3", {}, title));
		charts.append(box);
		const valueOf = (d: any, key: string): number | null => (opts.seconds ? (d[key] ?? null) : Number(d[key] ?? 0));
		const cell = (v: number | null) => (v === null ? "—" : opts.seconds ? duration(v) : String(v));
		const shown = daily.filter(d => series.some(([k]) => valueOf(d, k)) || (opts.count && d[opts.count[0]]));
		const table = h(
			"table",
			{ class: "chart-data" },
			h(
				"tr",
				{},
				h("th", {}, t("analytics.date")),
				opts.count ? h("th", {}, opts.count[1]) : null,
				series.map(([, label]) => h("th", {}, label))
			),
			shown.map(d =>
				h(
					"tr",
					{},
					h("td", {}, d.date),
					opts.count ? h("td", { "data-key": opts.count[0] }, String(d[opts.count[0]] ?? 0)) : null,
					series.map(([k]) => h("td", { "data-key": k, "data-value": valueOf(d, k) ?? "" }, cell(valueOf(d, k))))
				)
			)
		);
		// Drawn once every box is in the grid, so each knows its own width.
		requestAnimationFrame(() => {
			const lines = series.map(([key]) => daily.map(d => valueOf(d, key)));
			const data: uPlot.AlignedData = [daily.map((_d, i) => i), ...lines];
			// How many points the lines carry (what a reader sees drawn), for the tests too.
			box.dataset.points = String(lines.reduce((a, line) => a + line.filter(v => v !== null).length, 0));
			plots.push(
				new uPlot(
					{
						width: Math.max(260, box.clientWidth - 26),
						height: 200,
						scales: { x: { time: false }, y: { range: (_u, _min, max) => [0, Math.max(1, max)] } },
						series: [
							{ label: t("analytics.date"), value: (_u, i) => daily[i]?.date ?? "—" },
							...series.map(([, label], i) => ({
								label,
								stroke: COLORS[i],
								width: 2,
								points: { show: true },
								...(opts.seconds ? { value: (_u: uPlot, v: number | null) => (v === null ? "—" : duration(v)) } : {}),
							})),
						],
						axes: [
							{ incrs: [1, 2, 7, 14, 30, 91], values: (_u, splits) => splits.map(i => daily[i]?.date.slice(5) ?? "") },
							opts.seconds
								? {
										size: 70,
										incrs: [1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21_600, 43_200, 86_400],
										values: (_u, splits) => splits.map(v => duration(v)),
									}
								: { size: 40, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000] },
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
