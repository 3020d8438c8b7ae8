import { ApiFailure, call, list } from "../api.ts";
import { act, badge, field, fmtDate, h, replace, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";
import { onLive } from "../live.ts";

// Campaigns: the list, a creation form (template + segments), and the chosen campaign with
// what a launch would do (preview-launch), its controls, and its progress and metrics, which
// follow the live stream while it runs.

const ACTIONS: Record<string, ("start" | "pause" | "resume" | "cancel")[]> = {
	draft: ["start", "cancel"],
	scheduled: ["start", "cancel"],
	running: ["pause", "cancel"],
	paused: ["resume", "cancel"],
};

export function renderCampaigns(root: HTMLElement, args: string[]) {
	const selected = args[0] ?? "";
	const listEl = h("ul", { class: "list", id: "campaign-list" });
	const left = h(
		"section",
		{ class: "panel" },
		writeOnly(h("button", { onclick: () => (location.hash = "#/campaigns/new") }, t("campaigns.new"))),
		listEl
	);
	const detail = h("section", { class: "panel", id: "campaign" });
	root.append(h("div", { class: "grid cols-2" }, left, detail));

	async function loadList() {
		const res = await list("GET /campaigns", { query: { take: 100 } });
		replace(
			listEl,
			res.data.length
				? res.data.map(c =>
						h(
							"li",
							{ class: c.id === selected ? "active" : "", onclick: () => (location.hash = `#/campaigns/${c.id}`) },
							h("strong", {}, c.name),
							badge(t(`campaign.${c.status}`)),
							h("div", { class: "sub" }, fmtDate(c.createdAt))
						)
					)
				: h("li", { class: "muted" }, t("empty"))
		);
	}

	async function createForm() {
		const [templates, segments] = await Promise.all([
			list("GET /templates", { query: { take: 100 } }),
			list("GET /segments", { query: { take: 100 } }),
		]);
		const name = h("input", {});
		const template = h(
			"select",
			{},
			h("option", { value: "" }, "—"),
			templates.data.map(tp => h("option", { value: tp.id }, tp.name))
		);
		const segs = h(
			"select",
			{ multiple: true, size: Math.min(6, Math.max(2, segments.data.length)) },
			segments.data.map(s => h("option", { value: s.id }, s.name))
		);
		const variables = h("textarea", { rows: 3, placeholder: '{"discount_code": "TET2026"}' });
		const startAt = h("input", { type: "datetime-local" });
		const submit = h("button", { type: "submit" }, t("campaigns.create"));
		const form = h(
			"form",
			{ id: "campaign-form" },
			h("h2", {}, t("campaigns.new")),
			field(t("name"), "name", name),
			field(t("campaigns.template"), "templateId", template),
			field(t("campaigns.segments"), "segmentIds", segs),
			field(t("campaigns.variables"), "variables", variables),
			field(t("campaigns.startAt"), "schedule", startAt),
			h("div", { class: "form-error" }),
			submit
		);
		form.addEventListener("submit", e => {
			e.preventDefault();
			void act(form, submit, async () => {
				let vars: unknown = {};
				try {
					vars = variables.value.trim() ? JSON.parse(variables.value) : {};
				} catch {
					throw new ApiFailure(400, t("error.json"), "BAD_JSON", [{ field: "variables", message: t("error.json") }]);
				}
				const created = await call("POST /campaigns", {
					body: {
						name: name.value,
						templateId: template.value,
						segmentIds: [...segs.selectedOptions].map(o => o.value),
						variables: vars,
						...(startAt.value ? { schedule: { startAt: new Date(startAt.value).toISOString() } } : {}),
					},
				});
				location.hash = `#/campaigns/${created.id}`;
			});
		});
		replace(detail, form);
	}

	const progressBar = h("div", {});
	const progressText = h("div", { class: "muted", id: "campaign-progress" });
	const metricsEl = h("table", { id: "campaign-metrics" });
	let current: any = null;

	async function loadDetail() {
		await act(detail, null, async () => {
			const c = await call("GET /campaigns/:id", { params: { id: selected } });
			current = c;
			const buttons = (ACTIONS[c.status] ?? []).map(action => {
				const b = h(
					"button",
					{ class: action === "cancel" ? "danger" : action === "pause" ? "secondary" : "", "data-action": action },
					t(`campaigns.${action}`)
				);
				b.addEventListener("click", () => {
					if (action === "cancel" && !confirm(t("campaigns.confirmCancel"))) return;
					void act(detail, b, async () => {
						await call(`POST /campaigns/:id/${action}` as const, { params: { id: c.id }, body: {} });
						await Promise.all([loadDetail(), loadList()]);
					});
				});
				return writeOnly(b);
			});
			const previewBox = h("div", { id: "campaign-preview" });
			replace(
				detail,
				h(
					"div",
					{ class: "row" },
					h("h2", { style: "flex:1" }, c.name),
					h(
						"span",
						{ id: "campaign-status" },
						badge(t(`campaign.${c.status}`), c.status === "completed" ? "ok" : c.status === "cancelled" ? "bad" : "")
					)
				),
				h(
					"p",
					{ class: "muted" },
					`${t("campaigns.started")}: ${fmtDate(c.startedAt)} · ${t("campaigns.completed")}: ${fmtDate(c.completedAt)}`
				),
				h("div", { class: "row" }, buttons),
				h("div", { class: "form-error" }),
				h("h3", {}, t("campaigns.progress")),
				h("div", { class: "progress" }, progressBar),
				progressText,
				h("h3", {}, t("campaigns.metrics")),
				metricsEl,
				previewBox
			);
			showProgress(c.progress);
			await loadMetrics();
			if (c.status === "draft" || c.status === "scheduled") await loadPreview(previewBox, c.id);
		});
	}

	function showProgress(p: any) {
		if (!p) {
			progressBar.style.width = "0%";
			progressText.textContent = t("campaigns.notStarted");
			return;
		}
		const done = p.sent + p.failed + p.skipped + (p.expired ?? 0) + (p.cancelled ?? 0) + (p.unknown ?? 0);
		const pct = p.total ? Math.round((done / p.total) * 100) : 100;
		progressBar.style.width = `${pct}%`;
		progressText.textContent = t("campaigns.progressText", {
			done,
			total: p.total,
			sent: p.sent,
			failed: p.failed,
			pending: p.pending,
			pct,
		});
	}

	async function loadMetrics() {
		const m = await call("GET /campaigns/:id/metrics", { params: { id: selected } });
		const row = (label: string, n: number, rate?: number) =>
			h(
				"tr",
				{},
				h("th", {}, label),
				h("td", { "data-metric": label }, String(n)),
				h("td", { class: "muted" }, rate === undefined ? "" : `${rate}%`)
			);
		replace(
			metricsEl,
			row(t("metrics.sent"), m.totalSent),
			row(t("metrics.delivered"), m.delivered, m.deliveryRate),
			row(t("metrics.opened"), m.opened, m.openRate),
			row(t("metrics.clicked"), m.clicked, m.clickRate),
			row(t("metrics.replied"), m.replied, m.replyRate),
			row(t("metrics.failed"), m.failed, m.failureRate)
		);
	}

	async function loadPreview(box: HTMLElement, id: string) {
		const p = await call("POST /campaigns/:id/preview-launch", { params: { id }, body: {} });
		const reasons = Object.entries(p.skipped?.byReason ?? {});
		replace(
			box,
			h("h3", {}, t("campaigns.previewTitle")),
			h(
				"table",
				{},
				h("tr", {}, h("th", {}, t("campaigns.audience")), h("td", {}, String(p.audience))),
				h("tr", {}, h("th", {}, t("campaigns.eligible")), h("td", { id: "preview-eligible" }, String(p.eligible))),
				h(
					"tr",
					{},
					h("th", {}, t("campaigns.skipped")),
					h(
						"td",
						{},
						String(p.skipped?.total ?? 0),
						reasons.length
							? h(
									"ul",
									{},
									reasons.map(([r, n]) => h("li", {}, `${t(`skip.${r}`)}: ${n}`))
								)
							: null
					)
				),
				h("tr", {}, h("th", {}, t("campaigns.finishEstimate")), h("td", {}, fmtDate(p.estimatedFinishAt))),
				h("tr", {}, h("th", {}, t("campaigns.expectedExpired")), h("td", {}, String(p.expectedExpired ?? 0)))
			),
			(p.samples ?? []).length
				? h(
						"div",
						{},
						h("h4", {}, t("campaigns.samples")),
						(p.samples as any[]).slice(0, 3).map(s => h("div", { class: "preview" }, h("strong", {}, `@${s.username}: `), s.text))
					)
				: null
		);
	}

	const off = onLive((event, data) => {
		if (!event.startsWith("campaign.")) return;
		if (data?.campaignId === selected && event === "campaign.progress" && data.progress) {
			showProgress(data.progress);
			void loadMetrics();
		}
		if (data?.campaignId === selected && event !== "campaign.progress") void loadDetail();
		void loadList();
	});
	// The stream carries progress; a slow refresh keeps metrics (opens, clicks) current too.
	const poll = window.setInterval(() => {
		if (current && (current.status === "running" || current.status === "completed")) void loadMetrics().catch(() => {});
	}, 10_000);

	void loadList();
	if (selected === "new") void createForm();
	else if (selected) void loadDetail();
	else replace(detail, h("p", { class: "muted" }, t("campaigns.pick")));
	return () => {
		off();
		clearInterval(poll);
	};
}
