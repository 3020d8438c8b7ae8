import { ApiFailure, call, list } from "../api.ts";
import { act, badge, field, fmtDate, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";

// Flows: the list, a JSON editor whose validation errors are drawn at the node they name
// (details like "nodes[2].templateId"), activate/deactivate, and runs with their step log.

const EXAMPLE = {
	name: "Chào mừng khách mới",
	trigger: { type: "contact_created", config: {} },
	nodes: [
		{ type: "send_message", templateId: "<template-id>", delay: 0 },
		{ type: "wait", duration: 86400 },
	],
};

export function renderFlows(root: HTMLElement, args: string[]) {
	const selected = args[0] ?? "";
	// #/flows/<id>/edit: the create form, prefilled with the flow and saved with PUT.
	const editing = selected && args[1] === "edit" ? selected : "";
	const listEl = h("ul", { class: "list", id: "flow-list" });
	const editor = h("textarea", { rows: 14, spellcheck: false, style: "font-family:monospace" });
	editor.value = JSON.stringify(EXAMPLE, null, 2);
	const nodes = h("ol", { class: "list node-list", id: "flow-nodes" });
	const create = h("button", { type: "submit" }, editing ? t("save") : t("flows.create"));
	const title = h("h3", {}, editing ? t("flows.edit") : t("flows.new"));
	// The API refuses to edit an active flow (409 FLOW_ACTIVE naming `status`): said here.
	const status = h("div", { class: "field", "data-field": "status" }, h("div", { class: "field-error", role: "alert" }));
	const form = writeOnly(
		h(
			"form",
			{ id: "flow-form", "data-mode": editing ? "edit" : "create" },
			title,
			editing ? status : null,
			field(t("flows.definition"), "definition", editor),
			h("div", { class: "form-error" }),
			h(
				"div",
				{ class: "row" },
				create,
				editing
					? h(
							"button",
							{ type: "button", class: "secondary", onclick: () => (location.hash = `#/flows/${editing}`) },
							t("segments.cancelEdit")
						)
					: null
			),
			h("h4", {}, t("flows.nodes")),
			nodes
		)
	);
	const detail = h("section", { class: "panel", id: "flow-detail" });
	root.append(
		h(
			"div",
			{ class: "grid cols-2" },
			h("section", { class: "panel" }, listEl),
			h("div", {}, detail, h("section", { class: "panel", style: "margin-top:12px" }, form))
		)
	);

	function drawNodes() {
		let def: any;
		try {
			def = JSON.parse(editor.value);
		} catch {
			replace(nodes);
			return;
		}
		replace(
			nodes,
			h(
				"li",
				{ "data-field": "trigger" },
				h("strong", {}, t("flows.trigger")),
				` ${def?.trigger?.type ?? "?"}`,
				h("div", { class: "field-error" })
			),
			(Array.isArray(def?.nodes) ? def.nodes : []).map((n: any, i: number) =>
				h(
					"li",
					{ "data-field": `nodes[${i}]` },
					h("strong", {}, `${i + 1}. ${n?.type ?? "?"}`),
					" ",
					h("span", { class: "muted" }, JSON.stringify({ ...n, type: undefined })),
					h("div", { class: "field-error" })
				)
			)
		);
	}
	editor.addEventListener("input", drawNodes);
	drawNodes();
	form.addEventListener("submit", e => {
		e.preventDefault();
		drawNodes();
		void act(form, create, async () => {
			let body: unknown;
			try {
				body = JSON.parse(editor.value);
			} catch (err) {
				throw new ApiFailure(400, t("error.json"), "BAD_JSON", [{ field: "definition", message: String((err as Error).message) }]);
			}
			if (editing) {
				await call("PUT /automation/flows/:id", { params: { id: editing }, body });
				toast(t("saved"));
				location.hash = `#/flows/${editing}`;
				return;
			}
			const flow = await call("POST /automation/flows", { body });
			location.hash = `#/flows/${flow.id}`;
		});
		for (const li of nodes.querySelectorAll("li")) li.classList.toggle("invalid", !!li.querySelector(".field-error")?.textContent);
	});

	async function loadList() {
		const res = await list("GET /automation/flows", { query: { take: 100 } });
		replace(
			listEl,
			res.data.length
				? res.data.map(f =>
						h(
							"li",
							{ class: f.id === selected ? "active" : "", onclick: () => (location.hash = `#/flows/${f.id}`) },
							h("strong", {}, f.name),
							badge(f.status === "active" ? t("flows.active") : t("flows.inactive"), f.status === "active" ? "ok" : ""),
							h("div", { class: "sub" }, f.trigger?.type)
						)
					)
				: h("li", { class: "muted" }, t("empty"))
		);
	}

	async function loadDetail() {
		if (!selected) {
			replace(detail, h("p", { class: "muted" }, t("flows.pick")));
			return;
		}
		await act(detail, null, async () => {
			const flow = await call("GET /automation/flows/:id", { params: { id: selected } });
			const active = flow.status === "active";
			if (editing) {
				editor.value = JSON.stringify(
					{ name: flow.name, description: flow.description, trigger: flow.trigger, nodes: flow.nodes, allowReentry: flow.allowReentry },
					null,
					2
				);
				drawNodes();
			}
			const edit = writeOnly(
				h(
					"button",
					{ class: "secondary", id: "flow-edit", onclick: () => (location.hash = `#/flows/${flow.id}/edit`) },
					t("flows.editButton")
				)
			);
			const toggle = writeOnly(h("button", { class: active ? "secondary" : "" }, active ? t("flows.deactivate") : t("flows.activate")));
			toggle.addEventListener(
				"click",
				() =>
					void act(detail, toggle, async () => {
						await call(active ? "POST /automation/flows/:id/deactivate" : "POST /automation/flows/:id/activate", {
							params: { id: flow.id },
							body: {},
						});
						await Promise.all([loadDetail(), loadList()]);
					})
			);
			const runs = await list("GET /automation/flows/:id/runs", { params: { id: flow.id }, query: { take: 20 } });
			replace(
				detail,
				h("div", { class: "row" }, h("h2", { style: "flex:1" }, flow.name), editing ? null : edit, toggle),
				active && !editing ? h("p", { class: "muted" }, t("flows.activeHint")) : null,
				h("div", { class: "form-error" }),
				h("pre", { class: "json" }, JSON.stringify({ trigger: flow.trigger, nodes: flow.nodes }, null, 2)),
				h("h3", {}, t("flows.runs")),
				runs.data.length
					? h(
							"table",
							{},
							runs.data.map(r =>
								h(
									"tr",
									{},
									h("td", {}, fmtDate(r.startedAt ?? r.createdAt)),
									h("td", {}, badge(r.status)),
									h(
										"td",
										{},
										h(
											"ol",
											{},
											(r.steps ?? r.log ?? []).map((s: any) =>
												h("li", {}, `${s.type ?? s.nodeType ?? ""} ${s.status ?? ""} ${s.error ?? s.reason ?? ""}`)
											)
										)
									)
								)
							)
						)
					: h("p", { class: "muted" }, t("empty"))
			);
		});
	}
	void loadList();
	void loadDetail();
}
