import { ApiFailure, call, list } from "../api.ts";
import { act, badge, field, fmtDate, h, replace, toast, writeOnly } from "../dom.ts";
import { t } from "../i18n.ts";
import { onLive } from "../live.ts";
import { session } from "../session.ts";

// Conversations on the left (filters), the open one in the middle (messages, reply), its
// contact on the right. Live events reload what they touch; nothing waits for a refresh.

export function renderInbox(root: HTMLElement, args: string[]) {
	const selected = args[0] ?? "";
	const accountFilter = h("select", {}, h("option", { value: "" }, t("inbox.allAccounts")));
	const statusFilter = h(
		"select",
		{},
		h("option", { value: "open" }, t("status.open")),
		h("option", { value: "closed" }, t("status.closed")),
		h("option", { value: "" }, t("inbox.anyStatus"))
	);
	const assignedFilter = h("select", {}, h("option", { value: "" }, t("inbox.anyone")), h("option", { value: "me" }, t("inbox.mine")));
	const needsHuman = h("input", { type: "checkbox" });
	const listEl = h("ul", { class: "list", id: "conversation-list" });
	const left = h(
		"section",
		{ class: "panel" },
		h(
			"div",
			{ class: "filters" },
			field(t("inbox.account"), "accountId", accountFilter),
			h(
				"div",
				{ class: "row" },
				field(t("inbox.status"), "status", statusFilter),
				field(t("inbox.assigned"), "assignedTo", assignedFilter)
			),
			h("label", { class: "row" }, needsHuman, t("inbox.needsHuman"))
		),
		h("div", { class: "form-error" }),
		listEl
	);
	const middle = h("section", { class: "panel", id: "conversation" }, h("p", { class: "muted" }, t("inbox.pick")));
	const right = h("aside", { class: "panel", id: "contact-panel" });
	root.append(h("div", { class: "grid cols-3" }, left, middle, right));

	for (const el of [accountFilter, statusFilter, assignedFilter, needsHuman]) el.addEventListener("change", () => void loadList());
	void list("GET /accounts", { query: { take: 100 } }).then(res => {
		for (const a of res.data) accountFilter.append(h("option", { value: a.id }, `@${a.username}`));
	});
	let templates: any[] = [];
	void list("GET /templates", { query: { take: 100 } })
		.then(res => (templates = res.data))
		.catch(() => {});

	async function loadList() {
		await act(left, null, async () => {
			const res = await list("GET /conversations", {
				query: {
					accountId: accountFilter.value,
					status: statusFilter.value,
					assignedTo: assignedFilter.value === "me" ? session()?.userId : undefined,
					needsHuman: needsHuman.checked ? true : undefined,
					take: 50,
				},
			});
			replace(
				listEl,
				res.data.length
					? res.data.map(c =>
							h(
								"li",
								{ class: c.id === selected ? "active" : "", "data-id": c.id, onclick: () => (location.hash = `#/inbox/${c.id}`) },
								h(
									"div",
									{},
									h("strong", {}, c.contact?.displayName ?? c.contact?.username ?? "—"),
									c.needsHuman ? badge(t("inbox.needsHumanBadge"), "warn") : null,
									c.status === "closed" ? badge(t("status.closed")) : null
								),
								h(
									"div",
									{ class: "sub" },
									`@${c.contact?.username ?? "?"} · ${c.messageCount} ${t("inbox.messages")} · ${fmtDate(c.lastMessageAt)}`
								)
							)
						)
					: h("li", { class: "muted" }, t("empty"))
			);
		});
	}

	async function loadConversation() {
		if (!selected) return;
		await act(middle, null, async () => {
			const c = await call("GET /conversations/:id", { params: { id: selected }, query: { messagesLimit: 200 } });
			const messages = h(
				"div",
				{ class: "messages", id: "messages" },
				(c.messages as any[]).map(m =>
					h(
						"div",
						{ class: `msg ${m.direction}`, "data-direction": m.direction },
						m.content,
						...(m.attachments ?? []).map((a: any) => (a.url ? h("img", { src: a.url, alt: "" }) : null)),
						h(
							"div",
							{ class: "meta" },
							`${fmtDate(m.sentAt)}${m.isFromBot ? " · bot" : ""}${m.status === "failed" ? ` · ${t("inbox.failed")}: ${m.failureReason ?? ""}` : ""}`
						)
					)
				)
			);
			replace(
				middle,
				h(
					"div",
					{ class: "row" },
					h("h3", { style: "flex:1" }, c.contact?.displayName ?? "—", " ", h("span", { class: "muted" }, `@${c.contact?.username ?? ""}`)),
					badge(c.status === "open" ? t("status.open") : t("status.closed"), c.status === "open" ? "ok" : ""),
					c.assignedToUserId ? badge(`${t("inbox.assignedTo")} ${c.assignedToUserId}`) : null
				),
				assignBox(c),
				messages,
				c.status === "open" ? replyBox(c) : h("p", { class: "muted" }, t("inbox.closedNote"))
			);
			messages.scrollIntoView({ block: "end" });
			void loadContact(c.contactId);
		});
	}

	function assignBox(c: any) {
		const userInput = h("input", { placeholder: t("inbox.userId"), value: c.assignedToUserId ?? "" });
		const assign = h("button", { class: "secondary", type: "submit" }, t("inbox.assign"));
		const close = h("button", { class: "secondary", type: "button" }, t("inbox.close"));
		const form = writeOnly(
			h(
				"form",
				{ class: "row assign" },
				field(t("inbox.assignTo"), "userId", userInput),
				h("button", { class: "link", type: "button", onclick: () => (userInput.value = session()?.userId ?? "") }, t("inbox.me")),
				assign,
				c.status === "open" ? close : null,
				h("div", { class: "form-error" })
			)
		);
		form.addEventListener("submit", e => {
			e.preventDefault();
			void act(form, assign, async () => {
				await call("POST /conversations/:id/assign", { params: { id: c.id }, body: { userId: userInput.value.trim() } });
				toast(t("saved"));
				await Promise.all([loadConversation(), loadList()]);
			});
		});
		close.addEventListener(
			"click",
			() =>
				void act(form, close, async () => {
					await call("PUT /conversations/:id/close", { params: { id: c.id }, body: { reason: "resolved" } });
					await Promise.all([loadConversation(), loadList()]);
				})
		);
		return form;
	}

	function replyBox(c: any) {
		const text = h("textarea", { placeholder: t("inbox.replyPlaceholder"), id: "reply-text" });
		const image = h("input", { type: "url", placeholder: "https://…/image.png" });
		const imagePreview = h("img", { class: "attach-preview", alt: "", style: "max-height:60px;display:none" });
		image.addEventListener("change", () => {
			imagePreview.src = image.value;
			imagePreview.style.display = image.value ? "block" : "none";
		});
		const template = h(
			"select",
			{},
			h("option", { value: "" }, t("inbox.insertTemplate")),
			templates.map(tp => h("option", { value: tp.id }, tp.name))
		);
		const send = h("button", { type: "submit" }, t("inbox.send"));
		const form = writeOnly(
			h(
				"form",
				{ class: "reply" },
				field(t("inbox.reply"), "content", text),
				h(
					"div",
					{ class: "row" },
					field(t("inbox.template"), "template", template),
					field(t("inbox.image"), "attachments", image),
					imagePreview
				),
				h("div", { class: "form-error" }),
				send
			)
		);
		template.addEventListener("change", () => {
			if (!template.value) return;
			void act(form, null, async () => {
				const contact = await call("GET /contacts/:id", { params: { id: c.contactId } });
				const vars = { name: contact.displayName ?? contact.username, username: contact.username, ...stringify(contact.attributes ?? {}) };
				const { rendered } = await call("POST /templates/:id/preview", { params: { id: template.value }, body: { variables: vars } });
				const at = text.selectionStart ?? text.value.length;
				text.value = text.value.slice(0, at) + rendered + text.value.slice(text.selectionEnd ?? at);
				template.value = "";
			});
		});
		form.addEventListener("submit", e => {
			e.preventDefault();
			void act(form, send, async () => {
				const url = image.value.trim();
				await call("POST /conversations/:id/messages", {
					params: { id: c.id },
					body: { content: text.value, ...(url ? { type: "image", attachments: [{ type: "image", url }] } : {}) },
				});
				text.value = "";
				image.value = "";
				imagePreview.style.display = "none";
				await loadConversation();
			});
		});
		return form;
	}

	async function loadContact(contactId: string) {
		await act(right, null, async () => {
			const contact = await call("GET /contacts/:id", { params: { id: contactId } });
			replace(
				right,
				contactPanel(contact, () => void loadContact(contactId))
			);
		});
	}

	const off = onLive((event, data) => {
		if (event.startsWith("message.") || event.startsWith("conversation.")) {
			schedule(loadList);
			if (
				selected &&
				(data?.conversationId === selected || data?.id === selected || data?.conversation?.id === selected || event.startsWith("message."))
			)
				schedule(loadConversation);
		}
	});
	const timers = new Map<() => Promise<void>, number>();
	function schedule(fn: () => Promise<void>) {
		clearTimeout(timers.get(fn));
		timers.set(
			fn,
			window.setTimeout(() => void fn(), 150)
		);
	}

	void loadList();
	void loadConversation();
	return () => {
		off();
		for (const id of timers.values()) clearTimeout(id);
	};
}

function stringify(attrs: Record<string, unknown>): Record<string, string> {
	return Object.fromEntries(Object.entries(attrs).map(([k, v]) => [k, String(v)]));
}

/** The contact's tags, attributes and opt-out state, editable (also used by Contacts). */
export function contactPanel(contact: any, reload: () => void): HTMLElement {
	const panel = h("div", { class: "contact", "data-contact": contact.id });
	const tagInput = h("input", { placeholder: t("contacts.newTag") });
	const tagForm = writeOnly(
		h(
			"form",
			{ class: "row" },
			field(t("contacts.addTag"), "tags", tagInput),
			h("button", { type: "submit", class: "secondary" }, "+"),
			h("div", { class: "form-error" })
		)
	);
	tagForm.addEventListener("submit", e => {
		e.preventDefault();
		void act(tagForm, null, async () => {
			await call("POST /contacts/:id/tags", {
				params: { id: contact.id },
				body: {
					tags: tagInput.value
						.split(",")
						.map(s => s.trim())
						.filter(Boolean),
				},
			});
			reload();
		});
	});
	const attrs = h("textarea", { rows: 4 });
	attrs.value = JSON.stringify(contact.attributes ?? {}, null, 1);
	const attrsForm = writeOnly(
		h(
			"form",
			{},
			field(t("contacts.attributes"), "attributes", attrs),
			h("button", { type: "submit", class: "secondary" }, t("save")),
			h("div", { class: "form-error" })
		)
	);
	attrsForm.addEventListener("submit", e => {
		e.preventDefault();
		void act(attrsForm, null, async () => {
			let parsed: unknown;
			try {
				parsed = JSON.parse(attrs.value || "{}");
			} catch {
				throw new ApiFailure(400, t("error.json"), "BAD_JSON", [{ field: "attributes", message: t("error.json") }]);
			}
			await call("PUT /contacts/:id/attributes", { params: { id: contact.id }, body: { attributes: parsed } });
			toast(t("saved"));
			reload();
		});
	});
	const optButton = writeOnly(
		h("button", { class: contact.optedOut ? "secondary" : "danger" }, contact.optedOut ? t("contacts.optIn") : t("contacts.optOut"))
	);
	const optBox = h(
		"div",
		{ class: "row" },
		contact.optedOut ? badge(t("contacts.optedOut"), "bad") : badge(t("contacts.subscribed"), "ok"),
		optButton,
		h("div", { class: "form-error" })
	);
	optButton.addEventListener(
		"click",
		() =>
			void act(optBox, optButton, async () => {
				await call(contact.optedOut ? "POST /contacts/:id/opt-in" : "POST /contacts/:id/opt-out", { params: { id: contact.id }, body: {} });
				reload();
			})
	);
	replace(
		panel,
		h("h3", {}, contact.displayName ?? contact.username),
		h("p", { class: "muted" }, `@${contact.username} · ${t("contacts.conversations")}: ${contact.conversationCount ?? 0}`),
		optBox,
		h(
			"div",
			{ class: "tags" },
			h("strong", {}, t("contacts.tags")),
			" ",
			(contact.tags ?? []).length
				? (contact.tags as string[]).map(tag =>
						h(
							"span",
							{ class: "badge tag" },
							tag,
							writeOnly(
								h(
									"button",
									{
										class: "link",
										title: t("remove"),
										onclick: () =>
											void call("DELETE /contacts/:id/tags/:tagName", { params: { id: contact.id, tagName: tag } }).then(reload),
									},
									" ×"
								)
							)
						)
					)
				: h("span", { class: "muted" }, "—")
		),
		tagForm,
		h(
			"table",
			{},
			Object.entries(contact.attributes ?? {}).map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, String(v))))
		),
		attrsForm,
		h(
			"p",
			{ class: "muted" },
			`${t("contacts.first")}: ${fmtDate(contact.firstInteractionAt)} · ${t("contacts.last")}: ${fmtDate(contact.lastInteractionAt)}`
		)
	);
	return panel;
}
