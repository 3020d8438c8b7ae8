import { VI, EN } from "./messages.ts";

// Vietnamese by default, English on choice (kept in localStorage). The API is asked in the
// same language (Accept-Language), so its error messages read the same as the console.

export type Lang = "vi" | "en";
let lang: Lang = localStorage.getItem("mktx.lang") === "en" ? "en" : "vi";
document.documentElement.lang = lang;

export function getLang(): Lang {
	return lang;
}

export function setLang(next: Lang) {
	lang = next;
	localStorage.setItem("mktx.lang", next);
	document.documentElement.lang = next;
}

export function t(key: string, vars: Record<string, string | number> = {}): string {
	const text = (lang === "en" ? EN[key] : VI[key]) ?? VI[key] ?? key;
	return text.replace(/\{(\w+)\}/g, (_m, name: string) => String(vars[name] ?? ""));
}
