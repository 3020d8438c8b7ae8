import { call, list, raw } from "../api.ts";
import { act, field, fmtDate, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";
import { contactPanel } from "./inbox.ts";

// Contacts: search and tag filter, the detail panel shared with the inbox, CSV export and the
// GDPR erase (confirmed by typing the username, since it cannot be undone).

export function renderContacts(root: HTMLElement, args: string[]) {
	const selected = args[0] ?? "";
	const search = h("input", { type: "search", placeholder: t("contacts.search") });
	const tag = h("input", { placeholder: t("contacts.tag") });
	const exportButton = h("button", { class: "secondary", type: "button" }, t("contacts.export"));
	const listEl = h("table", { id: "contact-list" });
	const filters = h(
		"form",
		{ class: "row" },
		field(t("contacts.search"), "search", search),
		field(t("contacts.tag"), "tag", tag),
		h("button", { type: "submit" }, t("filter")),
		exportButton,
		h("div", { class: "form-error" })
	);
	const left = h("section", { class: "panel" }, filters, listEl);
	const detail = h("section", { class: "panel", id: "contact-detail" }, h("p", { class: "muted" }, t("contacts.pick")));
	root.append(h("div", { class: "grid cols-2", style: "grid-template-columns: 1fr 360px" }, left, detail));

	const query = () => ({ search: search.value.trim(), tag: tag.value.trim() });
	async function load() {
		await act(filters, null, async () => {
			const res = await list("GET /contacts", { query: { ...query(), take: 50 } });
			replace(
				listEl,
				h("tr", {}, h("th", {}, t("name")), h("th", {}, t("contacts.tags")), h("th", {}, t("contacts.last"))),
				res.data.map(c =>
					h(
						"tr",
						{ style: "cursor:pointer", onclick: () => (location.hash = `#/contacts/${c.id}`) },
						h(
							"td",
							{},
							h("strong", {}, c.displayName ?? "—"),
							h("div", { class: "muted" }, `@${c.username}${c.optedOut ? ` · ${t("contacts.optedOut")}` : ""}`)
						),
						h("td", {}, (c.tags ?? []).join(", ")),
						h("td", {}, fmtDate(c.lastInteractionAt))
					)
				)
			);
		});
	}
	filters.addEventListener("submit", e => {
		e.preventDefault();
		void load();
	});
	exportButton.addEventListener(
		"click",
		() =>
			void act(filters, exportButton, async () => {
				const blob = await raw("GET /contacts/export", { query: query() });
				const a = h("a", { href: URL.createObjectURL(blob), download: "contacts.csv" });
				a.click();
				URL.revokeObjectURL(a.href);
			})
	);

	async function loadDetail() {
		if (!selected) return;
		await act(detail, null, async () => {
			const contact = await call("GET /contacts/:id", { params: { id: selected } });
			const confirmInput = h("input", { placeholder: contact.username });
			const erase = h("button", { class: "danger", type: "submit" }, t("contacts.erase"));
			const eraseForm = writeOnly(
				h(
					"form",
					{ class: "panel", style: "margin-top:12px" },
					h("h4", {}, t("contacts.eraseTitle")),
					h("p", { class: "muted" }, t("contacts.eraseHint", { username: contact.username })),
					field(t("contacts.eraseConfirm"), "confirm", confirmInput),
					h("div", { class: "form-error" }),
					erase
				)
			);
			eraseForm.addEventListener("submit", e => {
				e.preventDefault();
				if (confirmInput.value.trim() !== contact.username) {
					eraseForm.querySelector(".form-error")!.textContent = t("contacts.eraseMismatch");
					return;
				}
				void act(eraseForm, erase, async () => {
					await call("DELETE /contacts/:id", { params: { id: contact.id } });
					toast(t("contacts.erased"));
					location.hash = "#/contacts";
				});
			});
			replace(
				detail,
				contactPanel(contact, () => void loadDetail()),
				eraseForm
			);
		});
	}
	void load();
	void loadDetail();
}
