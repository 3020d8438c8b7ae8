import { ApiFailure, call, list } from "../api.ts";
import { act, badge, field, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";

// X accounts (connect, business hours, auto-reply) and each account's AI configuration.

export function renderSettings(root: HTMLElement) {
	const accounts = h("div", { class: "grid", id: "accounts" });
	const token = h("input", { autocomplete: "off" });
	const secret = h("input", { type: "password", autocomplete: "off" });
	const connect = h("button", { type: "submit" }, t("settings.connect"));
	const connectForm = writeOnly(
		h(
			"form",
			{ class: "panel" },
			h("h3", {}, t("settings.connectTitle")),
			h("p", { class: "muted" }, t("settings.connectHint")),
			h(
				"div",
				{ class: "row" },
				field("OAuth token", "oauthToken", token),
				field("OAuth token secret", "oauthTokenSecret", secret),
				connect
			),
			h("div", { class: "form-error" })
		)
	);
	connectForm.addEventListener("submit", e => {
		e.preventDefault();
		void act(connectForm, connect, async () => {
			await call("POST /accounts", { body: { oauthToken: token.value.trim(), oauthTokenSecret: secret.value.trim() } });
			token.value = secret.value = "";
			toast(t("settings.connected"));
			await load();
		});
	});
	root.append(connectForm, h("div", { style: "margin-top:12px" }, accounts));

	async function load() {
		const res = await list("GET /accounts", { query: { take: 100 } });
		replace(accounts, res.data.length ? res.data.map(accountPanel) : h("p", { class: "muted" }, t("settings.noAccounts")));
	}
	void load();
}

function accountPanel(a: any): HTMLElement {
	const autoReply = h("input", { type: "checkbox" });
	autoReply.checked = !!a.autoReplyEnabled;
	const bh = h("textarea", { rows: 6, spellcheck: false, style: "font-family:monospace" });
	bh.value = JSON.stringify(a.businessHours ?? { enabled: false, timezone: "Asia/Ho_Chi_Minh" }, null, 2);
	const save = h("button", { type: "submit" }, t("save"));
	const form = h(
		"form",
		{},
		h(
			"label",
			{ class: "row", "data-field": "autoReplyEnabled" },
			writeOnly(autoReply),
			t("settings.autoReply"),
			h("div", { class: "field-error" })
		),
		field(t("settings.businessHours"), "businessHours", bh),
		h("div", { class: "form-error" }),
		writeOnly(save)
	);
	form.addEventListener("submit", e => {
		e.preventDefault();
		void act(form, save, async () => {
			let hours: unknown;
			try {
				hours = JSON.parse(bh.value);
			} catch {
				throw new ApiFailure(400, t("error.json"), "BAD_JSON", [{ field: "businessHours", message: t("error.json") }]);
			}
			await call("PUT /accounts/:id", { params: { id: a.id }, body: { autoReplyEnabled: autoReply.checked, businessHours: hours } });
			toast(t("saved"));
		});
	});
	const ai = h("div", {});
	void aiPanel(ai, a.id);
	return h(
		"section",
		{ class: "panel account", "data-account": a.id },
		h(
			"div",
			{ class: "row" },
			h("h3", { style: "flex:1" }, `@${a.username}`, " ", h("span", { class: "muted" }, a.displayName)),
			badge(a.status, a.status === "active" ? "ok" : "bad")
		),
		form,
		ai
	);
}

async function aiPanel(box: HTMLElement, accountId: string) {
	const cfg = await call("GET /ai/accounts/:accountId/config", { params: { accountId } });
	const enabled = h("input", { type: "checkbox" });
	enabled.checked = !!cfg.enabled;
	const model = h(
		"select",
		{},
		(cfg.allowedModels ?? [cfg.model]).map((m: string) => h("option", { value: m }, m))
	);
	model.value = cfg.model;
	const prompt = h("textarea", { rows: 3 });
	prompt.value = cfg.systemPrompt ?? "";
	const temperature = h("input", { type: "number", step: "0.1", min: "0", max: "1", value: cfg.temperature });
	const threshold = h("input", { type: "number", step: "0.05", min: "0", max: "1", value: cfg.escalationThreshold });
	const save = h("button", { type: "submit" }, t("save"));
	const form = h(
		"form",
		{ class: "ai" },
		h("h4", {}, t("settings.ai"), " ", h("span", { class: "muted" }, `(${cfg.provider})`)),
		h("label", { class: "row", "data-field": "enabled" }, enabled, t("settings.aiEnabled"), h("div", { class: "field-error" })),
		field(t("settings.model"), "model", model),
		field(t("settings.systemPrompt"), "systemPrompt", prompt),
		h(
			"div",
			{ class: "row" },
			field(t("settings.temperature"), "temperature", temperature),
			field(t("settings.threshold"), "escalationThreshold", threshold)
		),
		h("div", { class: "form-error" }),
		writeOnly(save)
	);
	form.addEventListener("submit", e => {
		e.preventDefault();
		void act(form, save, async () => {
			await call("PUT /ai/accounts/:accountId/config", {
				params: { accountId },
				body: {
					enabled: enabled.checked,
					model: model.value,
					systemPrompt: prompt.value,
					temperature: Number(temperature.value),
					escalationThreshold: Number(threshold.value),
				},
			});
			toast(t("saved"));
		});
	});
	replace(box, form);
}
