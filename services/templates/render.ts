import { attributeKeyProblem } from "../contacts/attributes.ts";

// The one renderer of message templates, used by the preview, campaigns and flows alike, so
// the preview shows exactly what is sent. X DMs carry plain text and one media item, so a
// quick_reply becomes its question plus numbered options and a card its title, text and one
// "label: url" line per button (the image becomes the message's media).

/** `{{ name }}`: anything between double braces is a placeholder, and must be a valid name. */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/** Filled from the contact: `name` is the display name, or the username when there is none. */
export const BUILTIN_VARIABLES = ["name", "username", "display_name"] as const;

export type VariableValue = string | number | boolean;

export interface TemplateOption {
	label: string;
	description?: string | null;
}
export interface TemplateButton {
	label: string;
	url: string;
}
export interface TemplateCard {
	title: string;
	text?: string | null;
	imageUrl?: string | null;
	buttons?: TemplateButton[] | null;
}
export interface RenderableTemplate {
	type: string;
	content?: string | null;
	options?: TemplateOption[] | null;
	card?: TemplateCard | null;
}
export interface RenderContact {
	username?: string | null;
	displayName?: string | null;
	attributes?: Record<string, unknown> | null;
}

export interface Rendered {
	/** The message text as it will be sent. */
	text: string;
	/** The card's image, sent as the DM's media; null otherwise. */
	mediaUrl: string | null;
	/** Placeholders that neither the contact nor the variables could fill (left as written in `text`). */
	missing: string[];
}

export function isBuiltinVariable(name: string): boolean {
	if ((BUILTIN_VARIABLES as readonly string[]).includes(name)) return true;
	return name.startsWith("attributes.") && attributeKeyProblem(name.slice("attributes.".length)) === null;
}

/** A placeholder name is `snake_case`-like or a built-in (`attributes.<key>` included). */
export function isValidVariableName(name: string): boolean {
	return VARIABLE_NAME.test(name) || isBuiltinVariable(name);
}

/** Every text of a template that may hold placeholders, with the field it comes from. */
export function templateTexts(t: RenderableTemplate): { field: string; text: string; url?: boolean }[] {
	const texts: { field: string; text: string; url?: boolean }[] = [];
	if (t.content) texts.push({ field: "content", text: t.content });
	if (t.type === "quick_reply") {
		(t.options ?? []).forEach((o, i) => {
			texts.push({ field: `options[${i}].label`, text: o.label });
			if (o.description) texts.push({ field: `options[${i}].description`, text: o.description });
		});
	}
	if (t.type === "card" && t.card) {
		texts.push({ field: "card.title", text: t.card.title });
		if (t.card.text) texts.push({ field: "card.text", text: t.card.text });
		if (t.card.imageUrl) texts.push({ field: "card.imageUrl", text: t.card.imageUrl, url: true });
		(t.card.buttons ?? []).forEach((b, i) => {
			texts.push({ field: `card.buttons[${i}].label`, text: b.label });
			texts.push({ field: `card.buttons[${i}].url`, text: b.url, url: true });
		});
	}
	return texts;
}

/** The placeholder names in a text, in order of first appearance (invalid names included). */
export function placeholdersIn(text: string): string[] {
	const names: string[] = [];
	for (const m of text.matchAll(PLACEHOLDER)) if (!names.includes(m[1])) names.push(m[1]);
	return names;
}

/** The distinct placeholders of the whole template. */
export function placeholdersOf(t: RenderableTemplate): string[] {
	const names: string[] = [];
	for (const { text } of templateTexts(t)) for (const n of placeholdersIn(text)) if (!names.includes(n)) names.push(n);
	return names;
}

function asText(value: unknown): string | null {
	if (typeof value === "string") return value;
	if (typeof value === "number" && Number.isFinite(value)) return String(value);
	if (typeof value === "boolean") return String(value);
	return null;
}

/** The value of a placeholder: the contact's built-in first, then the given variables. */
function lookup(name: string, contact: RenderContact | undefined, variables: Record<string, unknown>): string | null {
	if (contact) {
		let fromContact: string | null = null;
		if (name === "name") fromContact = contact.displayName || contact.username || null;
		else if (name === "username") fromContact = contact.username || null;
		else if (name === "display_name") fromContact = contact.displayName || null;
		else if (name.startsWith("attributes.")) {
			const key = name.slice("attributes.".length);
			const attrs = contact.attributes ?? {};
			fromContact = Object.hasOwn(attrs, key) ? asText(attrs[key]) : null;
		}
		if (fromContact !== null) return fromContact;
	}
	return Object.hasOwn(variables, name) ? asText(variables[name]) : null;
}

/**
 * Renders a template for one contact (or none, for a preview) with the given variables.
 * Never throws on a missing value: it is reported in `missing` and the caller decides (the
 * preview answers 422, a campaign records the delivery as failed).
 */
export function renderTemplate(
	t: RenderableTemplate,
	input: { contact?: RenderContact; variables?: Record<string, unknown> } = {}
): Rendered {
	const variables = input.variables ?? {};
	const missing: string[] = [];
	const fill = (text: string, url = false) =>
		text.replace(PLACEHOLDER, (whole, name: string, offset: number) => {
			const value = lookup(name, input.contact, variables);
			if (value === null) {
				if (!missing.includes(name)) missing.push(name);
				return whole;
			}
			// Inside a URL a value is one encoded component, unless it is the whole beginning ("{{link}}").
			return url && offset > 0 ? encodeURIComponent(value) : value;
		});

	const blocks: string[] = [];
	const content = fill(t.content ?? "").trim();
	let mediaUrl: string | null = null;
	if (t.type === "quick_reply") {
		if (content) blocks.push(content);
		const lines = (t.options ?? []).map((o, i) => {
			const description = o.description ? fill(o.description).trim() : "";
			return `${i + 1}. ${fill(o.label).trim()}${description ? ` - ${description}` : ""}`;
		});
		if (lines.length) blocks.push(lines.join("\n"));
	} else if (t.type === "card" && t.card) {
		if (content) blocks.push(content);
		blocks.push(fill(t.card.title).trim());
		const text = t.card.text ? fill(t.card.text).trim() : "";
		if (text) blocks.push(text);
		const buttons = (t.card.buttons ?? []).map(b => `${fill(b.label).trim()}: ${fill(b.url, true)}`);
		if (buttons.length) blocks.push(buttons.join("\n"));
		mediaUrl = t.card.imageUrl ? fill(t.card.imageUrl, true) : null;
	} else {
		blocks.push(content);
	}
	return { text: blocks.filter(Boolean).join("\n\n"), mediaUrl, missing };
}
