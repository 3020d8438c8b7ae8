import { call, list } from "../api.ts";
import { act, field, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";

// Templates with a live preview of their variables, and the segment builder with a live count
// (POST /segments/evaluate on every change, the contract's operators in the picker).

const OPERATORS = [
	"eq",
	"ne",
	"gt",
	"gte",
	"lt",
	"lte",
	"contains",
	"not_contains",
	"in",
	"not_in",
	"exists",
	"not_exists",
	"starts_with",
	"within_last_days",
	"more_than_days_ago",
];
const FIELDS = [
	"tags",
	"username",
	"displayName",
	"accountId",
	"source",
	"conversationCount",
	"firstInteractionAt",
	"lastInteractionAt",
	"optedOut",
	"attributes.",
];
const VARIABLE = /\{\{\s*([\w.]+)\s*\}\}/g;

export function renderTemplates(root: HTMLElement) {
	const templatesPanel = h("section", { class: "panel", id: "templates" });
	const segmentsPanel = h("section", { class: "panel", id: "segments" });
	root.append(
		h("div", { class: "grid", style: "grid-template-columns:repeat(auto-fit,minmax(360px,1fr))" }, templatesPanel, segmentsPanel)
	);
	void templateEditor(templatesPanel);
	void segmentBuilder(segmentsPanel);
}

async function templateEditor(panel: HTMLElement) {
	const existing = h("ul", { class: "list" });
	const name = h("input", {});
	const content = h("textarea", { rows: 5, placeholder: "Chào {{name}}, …" });
	const sample = h("div", { class: "sample" });
	const preview = h("div", { class: "preview", id: "template-preview" });
	const save = h("button", { type: "submit" }, t("save"));
	let editing: string | null = null;
	const form = writeOnly(
		h(
			"form",
			{},
			field(t("name"), "name", name),
			field(t("templates.content"), "content", content),
			sample,
			h("div", { class: "form-error" }),
			save
		)
	);
	replace(panel, h("h2", {}, t("templates.title")), existing, form, h("h4", {}, t("templates.preview")), preview);

	const samples = new Map<string, HTMLInputElement>();
	function refresh() {
		const vars = [...new Set([...content.value.matchAll(VARIABLE)].map(m => m[1]))];
		for (const v of vars) if (!samples.has(v)) samples.set(v, h("input", { placeholder: v, oninput: render }));
		replace(
			sample,
			vars.map(v => field(`{{${v}}}`, `sample.${v}`, samples.get(v)!))
		);
		render();
	}
	function render() {
		// The same substitution the server does for preview: a missing value stays visible.
		preview.textContent = content.value.replace(VARIABLE, (m, v: string) => samples.get(v)?.value || m);
	}
	content.addEventListener("input", refresh);

	async function load() {
		const res = await list("GET /templates", { query: { take: 100 } });
		replace(
			existing,
			res.data.map(tp =>
				h(
					"li",
					{
						onclick: () => {
							editing = tp.id;
							name.value = tp.name;
							content.value = tp.content;
							refresh();
						},
					},
					h("strong", {}, tp.name),
					h("div", { class: "sub" }, tp.content)
				)
			)
		);
	}
	form.addEventListener("submit", e => {
		e.preventDefault();
		void act(form, save, async () => {
			const body = { name: name.value, content: content.value };
			if (editing) await call("PUT /templates/:id", { params: { id: editing }, body });
			else await call("POST /templates", { body: { ...body, type: "text" } });
			toast(t("saved"));
			editing = null;
			name.value = content.value = "";
			refresh();
			await load();
		});
	});
	await load();
}

async function segmentBuilder(panel: HTMLElement) {
	const existing = h("ul", { class: "list", id: "segment-list" });
	const title = h("h3", { id: "segment-form-title" }, t("segments.new"));
	const name = h("input", {});
	const match = h("select", {}, h("option", { value: "all" }, t("segments.all")), h("option", { value: "any" }, t("segments.any")));
	const rows = h("div", { class: "conditions" });
	const count = h("div", { class: "preview", id: "segment-count" }, "—");
	const save = h("button", { type: "submit" }, t("save"));
	const cancel = h("button", { type: "button", class: "secondary", hidden: true }, t("segments.cancelEdit"));
	// The segment being edited (PUT), or null for a new one (POST): the same form for both.
	let editing: string | null = null;
	const form = h(
		"form",
		{ id: "segment-form" },
		title,
		field(t("name"), "name", name),
		field(t("segments.match"), "match", match),
		rows,
		h(
			"button",
			{
				type: "button",
				class: "secondary",
				onclick: () => {
					addRow();
					void evaluate();
				},
			},
			t("segments.addCondition")
		),
		h("h4", {}, t("segments.count")),
		count,
		h("div", { class: "form-error" }),
		writeOnly(h("div", { class: "row" }, save, cancel))
	);
	replace(panel, h("h2", {}, t("segments.title")), existing, form);

	function addRow(condition: { field?: string; operator?: string; value?: unknown } = {}) {
		const i = rows.children.length;
		const f = h("input", { list: "segment-fields", value: condition.field ?? "tags" });
		const op = h(
			"select",
			{},
			OPERATORS.map(o => h("option", { value: o }, o))
		);
		op.value = condition.operator ?? "contains";
		const shown = Array.isArray(condition.value) ? condition.value.join(", ") : (condition.value ?? "");
		const value = h("input", { placeholder: t("segments.value"), value: String(shown) });
		const row = h(
			"div",
			{ class: "row condition", "data-field": `conditions[${i}]` },
			f,
			op,
			value,
			h(
				"button",
				{
					type: "button",
					class: "link",
					onclick: () => {
						row.remove();
						void evaluate();
					},
				},
				"×"
			),
			h("div", { class: "field-error" })
		);
		for (const el of [f, op, value]) el.addEventListener("input", () => void evaluate());
		rows.append(row);
	}
	function conditions() {
		return [...rows.querySelectorAll(".condition")].map(row => {
			const [f, op, value] = row.querySelectorAll<HTMLInputElement>("input, select");
			const raw = value.value.trim();
			let v: unknown = raw;
			if (op.value === "in" || op.value === "not_in")
				v = raw
					.split(",")
					.map(s => s.trim())
					.filter(Boolean);
			else if (raw !== "" && !Number.isNaN(Number(raw))) v = Number(raw);
			else if (raw === "true" || raw === "false") v = raw === "true";
			return { field: f.value.trim(), operator: op.value, ...(op.value.endsWith("exists") ? {} : { value: v }) };
		});
	}
	let timer = 0;
	function evaluate() {
		clearTimeout(timer);
		timer = window.setTimeout(
			() =>
				void act(form, null, async () => {
					const r = await call("POST /segments/evaluate", { body: { match: match.value, conditions: conditions() } });
					count.textContent = t("segments.matches", { n: r.contactCount });
				}),
			250
		);
	}
	/** The form for a new segment, or prefilled with a saved one to edit it. */
	function fill(segment: { id: string; name: string; match?: string; conditions: unknown[] } | null) {
		editing = segment?.id ?? null;
		title.textContent = segment ? t("segments.editing", { name: segment.name }) : t("segments.new");
		cancel.hidden = !segment;
		name.value = segment?.name ?? "";
		match.value = segment?.match ?? "all";
		rows.replaceChildren();
		for (const c of segment?.conditions ?? [{}]) addRow(c as { field?: string });
		for (const li of existing.querySelectorAll("li")) li.classList.toggle("active", li.getAttribute("data-id") === editing);
		evaluate();
	}
	match.addEventListener("change", evaluate);
	cancel.addEventListener("click", () => fill(null));
	form.addEventListener("submit", e => {
		e.preventDefault();
		void act(form, save, async () => {
			const body = { name: name.value, match: match.value, conditions: conditions() };
			if (editing) await call("PUT /segments/:id", { params: { id: editing }, body });
			else await call("POST /segments", { body });
			toast(t("saved"));
			await load();
			fill(null);
		});
	});
	async function load() {
		const res = await list("GET /segments", { query: { take: 100 } });
		replace(
			existing,
			res.data.map(s =>
				h(
					"li",
					{
						"data-id": s.id,
						class: s.id === editing ? "active" : "",
						title: t("segments.edit"),
						onclick: () => void act(form, null, async () => fill(await call("GET /segments/:id", { params: { id: s.id } }))),
					},
					h("strong", {}, s.name),
					h(
						"div",
						{ class: "sub" },
						s.conditions.map((c: any) => `${c.field} ${c.operator} ${c.value ?? ""}`).join(s.match === "any" ? " | " : " & ")
					)
				)
			)
		);
	}
	panel.append(
		h(
			"datalist",
			{ id: "segment-fields" },
			FIELDS.map(f => h("option", { value: f }))
		)
	);
	fill(null);
	await load();
}
