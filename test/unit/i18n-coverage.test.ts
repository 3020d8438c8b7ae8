import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { catalogs } from "../../lib/i18n.ts";

// Every errorCode the code can raise has a Vietnamese and an English message: the codes are
// read from the sources (the second-to-last string argument of an *Error(...) construction, or
// an `errorCode`/`type` literal), so a new code without messages fails here.

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");

function sources(dir: string): string[] {
	return readdirSync(dir).flatMap(name => {
		const full = path.join(dir, name);
		return statSync(full).isDirectory() ? sources(full) : name.endsWith(".ts") ? [full] : [];
	});
}

function raisedCodes(): Map<string, string> {
	const codes = new Map<string, string>();
	for (const file of ["lib", "services", "mixins"].flatMap(d => sources(path.join(root, d)))) {
		const text = readFileSync(file, "utf8");
		// new XxxError(..., "CODE"...) on one or a few lines
		for (const m of text.matchAll(/new [A-Za-z]*Error\(([^;]*?)\)/gs)) {
			for (const c of m[1].matchAll(/"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})"/g)) codes.set(c[1], path.relative(root, file));
		}
		for (const m of text.matchAll(/(?:errorCode|code)\s*[:=]\s*"([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)"/g))
			codes.set(m[1], path.relative(root, file));
	}
	return codes;
}

test("the scan finds the codes it should (it is not vacuous)", () => {
	const codes = raisedCodes();
	for (const known of [
		"INVALID_OAUTH_CREDENTIALS",
		"ACCOUNT_ALREADY_CONNECTED",
		"MESSAGE_TOO_LONG",
		"INVALID_SIGNATURE",
		"TEMPLATE_IN_USE",
	])
		expect(codes.has(known)).toBe(true);
	expect(codes.size).toBeGreaterThan(10);
});

test("every errorCode raised anywhere has both a Vietnamese and an English message", () => {
	const missing = [...raisedCodes()]
		.filter(([code]) => !catalogs.vi[code] || !catalogs.en[code])
		.map(([code, file]) => `${code} (${file})`);
	expect(missing).toEqual([]);
});

test("the two catalogues have the same codes and no empty message", () => {
	expect(Object.keys(catalogs.vi).sort()).toEqual(Object.keys(catalogs.en).sort());
	for (const locale of ["vi", "en"] as const)
		for (const [code, message] of Object.entries(catalogs[locale])) expect([code, message.trim().length > 0]).toEqual([code, true]);
});
