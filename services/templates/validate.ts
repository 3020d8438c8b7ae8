import type { ErrorDetail } from "../../lib/errors.ts";
import { isBuiltinVariable, isValidVariableName, placeholdersIn, templateTexts, type RenderableTemplate } from "./render.ts";

// What a stored template must satisfy, checked on create and on every update (against the
// template as it will be after the update).
//
// Variables: `variables` lists the template's placeholders, exactly. Built-ins (name,
// username, display_name, attributes.<key>) may be listed or not, since the contact fills them;
// every other placeholder must be listed, and nothing may be listed that the text does not
// use. Without `variables` in the request, the list is taken from the text.

export interface TemplateDraft extends RenderableTemplate {
	name: string;
	variables?: string[] | null;
}

const PREVIEW_URL = "https://example.com/";

function urlProblem(text: string): string | null {
	// placeholders stand for a value; what is around them must already be an http(s) URL
	const sample = text.replace(/\{\{[^{}]*\}\}/g, (_m, offset: number) => (offset === 0 ? PREVIEW_URL : "x"));
	try {
		const url = new URL(sample);
		return url.protocol === "http:" || url.protocol === "https:" ? null : "must be an http(s) URL";
	} catch {
		return "must be an http(s) URL";
	}
}

/** The template's problems, each naming its field; an empty list means it may be stored. */
export function templateProblems(t: TemplateDraft): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	if (!t.name.trim()) problems.push({ field: "name", message: "must not be empty" });

	if (t.type !== "card" && !(t.content ?? "").trim()) problems.push({ field: "content", message: "is required" });
	if (t.type === "quick_reply" && !t.options?.length)
		problems.push({ field: "options", message: "a quick_reply template needs 1 to 20 options" });
	if (t.type === "card" && !t.card)
		problems.push({ field: "card", message: "a card template needs a card {title, text, imageUrl?, buttons?}" });

	const used: string[] = [];
	for (const { field, text, url } of templateTexts(t)) {
		for (const name of placeholdersIn(text)) {
			if (!isValidVariableName(name)) {
				problems.push({ field, message: `{{${name}}} is not a valid placeholder (letters, digits and _, or attributes.<key>)` });
			} else if (!used.includes(name)) used.push(name);
		}
		if (url) {
			const problem = urlProblem(text);
			if (problem) problems.push({ field, message: problem });
		}
	}

	if (t.variables) {
		t.variables.forEach((v, i) => {
			if (!isValidVariableName(v)) problems.push({ field: `variables[${i}]`, message: "is not a valid variable name" });
		});
		const declared = new Set(t.variables);
		const undeclared = used.filter(n => !declared.has(n) && !isBuiltinVariable(n));
		const unused = [...declared].filter(n => !used.includes(n) && isValidVariableName(n));
		const difference = [
			undeclared.length ? `used in the template but not declared: ${undeclared.join(", ")}` : "",
			unused.length ? `declared but not used in the template: ${unused.join(", ")}` : "",
		].filter(Boolean);
		if (difference.length) problems.push({ field: "variables", message: difference.join("; ") });
	}
	return problems;
}

/** The declared variables to store: as given (deduplicated), or the placeholders of the text. */
export function variablesOf(t: TemplateDraft): string[] {
	if (t.variables) return [...new Set(t.variables)];
	const names: string[] = [];
	for (const { text } of templateTexts(t)) for (const n of placeholdersIn(text)) if (!names.includes(n)) names.push(n);
	return names;
}
