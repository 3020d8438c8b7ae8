import { t } from "./i18n.ts";
import { ApiFailure } from "./api.ts";

// Small DOM helpers: the console has no framework, so these are its components.

type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;
export type Child = Node | string | number | null | undefined | false | Child[];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
	const el = document.createElement(tag);
	for (const [key, value] of Object.entries(attrs)) {
		if (value === null || value === undefined || value === false) continue;
		if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
		else if (key === "value" && "value" in el) (el as HTMLInputElement).value = String(value);
		else el.setAttribute(key, value === true ? "" : String(value));
	}
	append(el, children);
	return el;
}

function append(el: Node, children: Child[]) {
	for (const child of children) {
		if (child === null || child === undefined || child === false) continue;
		if (Array.isArray(child)) append(el, child);
		else el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
	}
}

export function replace(el: Element, ...children: Child[]) {
	el.replaceChildren();
	append(el, children);
}

/** A labelled input whose `data-field` lets API error details land next to it. */
export function field(label: string, name: string, control: HTMLElement): HTMLElement {
	control.setAttribute("name", name);
	control.id ||= `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
	return h(
		"div",
		{ class: "field", "data-field": name },
		h("label", { for: control.id }, label),
		control,
		h("div", { class: "field-error", role: "alert" })
	);
}

export function clearErrors(scope: Element) {
	for (const el of scope.querySelectorAll(".field-error, .form-error")) el.textContent = "";
	for (const el of scope.querySelectorAll(".invalid")) el.classList.remove("invalid");
}

/**
 * Shows an API error in words: each detail next to the field it names (the closest
 * `data-field` whose name is the detail's field or a prefix of it), the rest in the
 * form's own error line. Never the raw JSON.
 */
export function showError(scope: Element, err: unknown) {
	clearErrors(scope);
	const general = scope.querySelector(".form-error") ?? scope.appendChild(h("div", { class: "form-error", role: "alert" }));
	if (!(err instanceof ApiFailure)) {
		general.textContent = t("error.network");
		return;
	}
	const rest: string[] = [];
	for (const d of err.details) {
		const target = bestField(scope, d.field);
		if (target) {
			const box = target.querySelector(":scope > .field-error");
			if (box) box.textContent = [box.textContent, d.message].filter(Boolean).join("; ");
			target.classList.add("invalid");
		} else if (d.message !== err.message) rest.push(`${d.field}: ${d.message}`);
	}
	general.textContent = [err.message, ...rest].join(" — ");
}

function bestField(scope: Element, name: string): Element | null {
	let best: Element | null = null;
	let bestLength = -1;
	for (const el of scope.querySelectorAll("[data-field]")) {
		const f = el.getAttribute("data-field") ?? "";
		const matches = name === f || name.startsWith(`${f}.`) || name.startsWith(`${f}[`);
		if (matches && f.length > bestLength) {
			best = el;
			bestLength = f.length;
		}
	}
	return best;
}

/** Runs an action from a button: disabled while it runs, its error shown in `scope`. */
export async function act(scope: Element, button: HTMLButtonElement | null, work: () => Promise<unknown>): Promise<boolean> {
	if (button) button.disabled = true;
	clearErrors(scope);
	try {
		await work();
		return true;
	} catch (err) {
		showError(scope, err);
		return false;
	} finally {
		if (button) button.disabled = false;
	}
}

export function toast(text: string) {
	const el = h("div", { class: "toast", role: "status" }, text);
	document.body.appendChild(el);
	setTimeout(() => el.remove(), 3000);
}

export function fmtDate(iso: string | null | undefined): string {
	if (!iso) return "—";
	return new Date(iso).toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "vi-VN", {
		dateStyle: "short",
		timeStyle: "short",
	});
}

export function badge(text: string, kind = "") {
	return h("span", { class: `badge ${kind}` }, text);
}

/** Buttons and inputs that change data: hidden from a viewer (the API would answer 403). */
export function writeOnly<T extends HTMLElement>(el: T): T {
	el.classList.add("write");
	return el;
}
