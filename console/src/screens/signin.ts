import { h, field, act, showError } from "../dom.ts";
import { t } from "../i18n.ts";
import { signIn } from "../session.ts";
import { ApiFailure } from "../api.ts";

// Paste a token from the platform's IAM, or, while the server signs with the public
// development secret, pick a merchant and a user and let it sign one (/console/dev-token).

export function renderSignIn(root: HTMLElement, done: () => void) {
	const tokenInput = h("textarea", { placeholder: "eyJhbGciOi…", rows: 4 });
	const pasteForm = h(
		"form",
		{ class: "panel" },
		h("h2", {}, t("signin.title")),
		field(t("signin.token"), "token", tokenInput),
		h("div", { class: "form-error", role: "alert" }),
		h("button", { type: "submit" }, t("signin.submit"))
	);
	pasteForm.addEventListener("submit", e => {
		e.preventDefault();
		if (signIn(tokenInput.value)) done();
		else showError(pasteForm, new ApiFailure(400, t("signin.badToken"), "BAD_TOKEN", [{ field: "token", message: t("signin.badToken") }]));
	});
	root.append(pasteForm);

	void fetch("/console/dev-token").then(res => {
		if (!res.ok) return;
		const merchant = h("input", { value: "merchant-1" });
		const user = h("input", { value: "agent-1" });
		const role = h(
			"select",
			{},
			h("option", { value: "agent" }, t("role.agent")),
			h("option", { value: "admin" }, t("role.admin")),
			h("option", { value: "viewer" }, t("role.viewer"))
		);
		const button = h("button", { type: "submit" }, t("signin.dev"));
		const devForm = h(
			"form",
			{ class: "panel dev", style: "margin-top:12px" },
			h("h3", {}, t("signin.devTitle")),
			h("p", { class: "muted" }, t("signin.devHint")),
			field(t("signin.merchant"), "merchantId", merchant),
			field(t("signin.user"), "userId", user),
			field(t("signin.role"), "role", role),
			h("div", { class: "form-error", role: "alert" }),
			button
		);
		devForm.addEventListener("submit", e => {
			e.preventDefault();
			void act(devForm, button, async () => {
				const res = await fetch("/console/dev-token", {
					method: "POST",
					headers: { "Content-Type": "application/json", "Accept-Language": document.documentElement.lang },
					body: JSON.stringify({ merchantId: merchant.value, userId: user.value, role: role.value }),
				});
				const body = await res.json();
				if (!res.ok) throw new ApiFailure(res.status, body.error, body.errorCode, body.details ?? []);
				signIn(body.data.token);
				done();
			});
		});
		root.append(devForm);
	});
}
