import { call, list, raw } from "../api.ts";
import { act, field, fmtDate, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";
import { session } from "../session.ts";
import { contactPanel } from "./inbox.ts";

// Contacts: search and tag filter (tags, comma-separated: a contact has all), pages of 50 with
// the total, the detail panel shared with the inbox, CSV export and the
// GDPR erase (confirmed by typing the username, since it cannot be undone).

const PAGE_SIZE = 50;
// The list's filters and page outlive the screen (opening a contact re-renders it), so going to
// a contact and back keeps the page and the filters it was found with.
// (Per merchant: another sign-in starts from the first page, unfiltered.)
const listState = { merchantId: "", search: "", tags: "", skip: 0 };

export function renderContacts(root: HTMLElement, args: string[]) {
	const selected = args[0] ?? "";
	const merchantId = session()?.merchantId ?? "";
	if (listState.merchantId !== merchantId) Object.assign(listState, { merchantId, search: "", tags: "", skip: 0 });
	const search = h("input", { type: "search", placeholder: t("contacts.search"), value: listState.search });
	const tag = h("input", { placeholder: t("contacts.tag"), value: listState.tags });
	const prev = h("button", { type: "button", class: "secondary", id: "contacts-prev" }, t("contacts.prev"));
	const next = h("button", { type: "button", class: "secondary", id: "contacts-next" }, t("contacts.next"));
	const pageInfo = h("span", { class: "muted", id: "contacts-page" });
	const pager = h("div", { class: "row pager" }, prev, pageInfo, next);
	const exportButton = h("button", { class: "secondary", type: "button" }, t("contacts.export"));
	const listEl = h("table", { id: "contact-list" });
	const filters = h(
		"form",
		{ class: "row", id: "contacts-filters" },
		field(t("contacts.search"), "search", search),
		field(t("contacts.tag"), "tags", tag),
		h("button", { type: "submit" }, t("filter")),
		exportButton,
		h("div", { class: "form-error" })
	);
	const left = h("section", { class: "panel" }, filters, pager, listEl);
	const detail = h("section", { class: "panel", id: "contact-detail" }, h("p", { class: "muted" }, t("contacts.pick")));
	root.append(h("div", { class: "grid cols-2", style: "grid-template-columns: 1fr 360px" }, left, detail));

	// The filters the list was last loaded with: the pages and the export use these, not what
	// is typed but not yet applied.
	const query = () => ({ search: listState.search, tags: listState.tags });
	async function load() {
		await act(filters, null, async () => {
			const res = await list("GET /contacts", { query: { ...query(), skip: listState.skip, take: PAGE_SIZE } });
			const { page, totalPages, total } = res.pagination;
			if (res.data.length === 0 && listState.skip > 0 && total > 0) {
				// The list shrank under us (erased contacts, changed filter): go to its last page.
				listState.skip = Math.max(0, (totalPages - 1) * PAGE_SIZE);
				return load();
			}
			pageInfo.textContent = t("contacts.pageOf", { page: total ? page : 0, pages: totalPages, total });
			prev.disabled = listState.skip === 0;
			next.disabled = listState.skip + PAGE_SIZE >= total;
			replace(
				listEl,
				h("tr", {}, h("th", {}, t("name")), h("th", {}, t("contacts.tags")), h("th", {}, t("contacts.last"))),
				res.data.map(c =>
					h(
						"tr",
						{
							style: "cursor:pointer",
							"data-id": c.id,
							class: c.id === selected ? "active" : "",
							onclick: () => (location.hash = `#/contacts/${c.id}`),
						},
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
		listState.search = search.value.trim();
		listState.tags = tag.value
			.split(",")
			.map(s => s.trim())
			.filter(Boolean)
			.join(",");
		listState.skip = 0;
		void load();
	});
	prev.addEventListener("click", () => {
		listState.skip = Math.max(0, listState.skip - PAGE_SIZE);
		void load();
	});
	next.addEventListener("click", () => {
		listState.skip += PAGE_SIZE;
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
