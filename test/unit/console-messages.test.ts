import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { EN, VI } from "../../console/src/messages.ts";

// Every word the console shows exists in Vietnamese and in English: the keys its sources pass
// to t(), including those built from a known list (statuses, skip reasons, live states).

const src = path.join(import.meta.dirname, "../../console/src");
const sources = [...readdirSync(src), ...readdirSync(path.join(src, "screens")).map(f => `screens/${f}`)]
	.filter(f => f.endsWith(".ts"))
	.map(f => readFileSync(path.join(src, f), "utf8"));
const literal = sources.flatMap(s => [...s.matchAll(/\bt\("([\w.]+)"/g)].map(m => m[1]));
const built = [
	...["draft", "scheduled", "running", "paused", "completed", "cancelled"].map(s => `campaign.${s}`),
	...["start", "pause", "resume", "cancel"].map(a => `campaigns.${a}`),
	...["off", "connecting", "live"].map(s => `live.${s}`),
	...["opted_out", "account_inactive", "no_prior_contact", "contact_missing"].map(r => `skip.${r}`),
];

test("every key the console uses has a Vietnamese and an English text", () => {
	expect(literal.length).toBeGreaterThan(100);
	const keys = [...new Set([...literal, ...built])];
	expect(keys.filter(k => !VI[k])).toEqual([]);
	expect(keys.filter(k => !EN[k])).toEqual([]);
});

test("both languages hold the same keys", () => {
	expect(Object.keys(EN).sort()).toEqual(Object.keys(VI).sort());
});
