import { h, replace } from "./dom.ts";
import { getLang, setLang, t } from "./i18n.ts";
import { onLiveState, startLive, stopLive } from "./live.ts";
import { session, signOut } from "./session.ts";
import { renderSignIn } from "./screens/signin.ts";
import { renderInbox } from "./screens/inbox.ts";
import { renderContacts } from "./screens/contacts.ts";
import { renderTemplates } from "./screens/templates.ts";
import { renderCampaigns } from "./screens/campaigns.ts";
import { renderFlows } from "./screens/flows.ts";
import { renderAnalytics } from "./screens/analytics.ts";
import { renderSettings } from "./screens/settings.ts";

// Shell and router: hash routes (#/inbox/<id>), so the gateway only serves files.

export type Screen = (root: HTMLElement, args: string[]) => (() => void) | void;

const SCREENS: Record<string, { label: () => string; render: Screen }> = {
	inbox: { label: () => t("nav.inbox"), render: renderInbox },
	contacts: { label: () => t("nav.contacts"), render: renderContacts },
	templates: { label: () => t("nav.templates"), render: renderTemplates },
	campaigns: { label: () => t("nav.campaigns"), render: renderCampaigns },
	flows: { label: () => t("nav.flows"), render: renderFlows },
	analytics: { label: () => t("nav.analytics"), render: renderAnalytics },
	settings: { label: () => t("nav.settings"), render: renderSettings },
};

const app = document.getElementById("app")!;
let cleanup: (() => void) | void;
let unsubscribeState: (() => void) | null = null;

function route() {
	cleanup?.();
	cleanup = undefined;
	unsubscribeState?.();
	const s = session();
	if (!s) {
		stopLive();
		document.body.classList.remove("readonly");
		replace(app, langSwitch());
		const main = h("main", { class: "signin" });
		app.appendChild(main);
		cleanup = renderSignIn(main, () => {
			startLive();
			location.hash = "#/inbox";
			route();
		});
		return;
	}
	document.body.classList.toggle("readonly", s.readOnly);
	const [name, ...args] = location.hash.replace(/^#\/?/, "").split("/");
	const current = SCREENS[name] ? name : "inbox";
	const liveDot = h("span", { class: "live-dot", title: "" });
	unsubscribeState = onLiveState(state => {
		liveDot.className = `live-dot ${state}`;
		liveDot.title = t(`live.${state}`);
		liveDot.textContent = t(`live.${state}`);
	});
	const main = h("main", { id: "screen", "data-screen": current });
	replace(
		app,
		h(
			"header",
			{ class: "topbar" },
			h("strong", { class: "brand" }, "mkt-x"),
			h(
				"nav",
				{},
				Object.entries(SCREENS).map(([key, screen]) => h("a", { href: `#/${key}`, class: key === current ? "active" : "" }, screen.label()))
			),
			h(
				"div",
				{ class: "who" },
				liveDot,
				h("span", { class: "muted" }, `${s.merchantId} · ${s.userId || "—"}${s.readOnly ? ` · ${t("role.viewer")}` : ""}`),
				langSwitch(),
				h(
					"button",
					{
						class: "link",
						onclick: () => {
							signOut();
							route();
						},
					},
					t("signOut")
				)
			)
		),
		main
	);
	cleanup = SCREENS[current].render(main, args);
}

function langSwitch() {
	const select = h(
		"select",
		{
			class: "lang",
			"aria-label": "Language",
			onchange: () => {
				setLang(select.value as "vi" | "en");
				route();
			},
		},
		h("option", { value: "vi" }, "Tiếng Việt"),
		h("option", { value: "en" }, "English")
	);
	select.value = getLang();
	return select;
}

window.addEventListener("hashchange", route);
if (session()) startLive();
route();
