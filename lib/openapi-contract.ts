import { readFileSync } from "node:fs";

// What the reference page takes from the contract (docs/contract/API.vi.md): per endpoint, its
// Vietnamese title and description and its request and response examples. The contract is
// prose around blocks: a title, a sentence, "Endpoint", "METHOD /path", then "Request Body" and
// "Response …" each followed by a JSON block.

export interface ContractEntry {
	titleVi: string;
	descriptionVi: string | null;
	request?: unknown;
	response?: unknown;
}

const ENDPOINT = /^(GET|POST|PUT|DELETE|PATCH) (\/[^\s?]*)/;

/** "POST /accounts/{accountId}" and "post /api/v1/mkt-x/accounts/{id}" meet at "post /accounts/{}". */
export const contractKey = (method: string, path: string) =>
	`${method.toLowerCase()} ${path.replace(/^\/api\/v1\/mkt-x/, "").replace(/\{[^}]+\}/g, "{}")}`;

/** The JSON block starting at line `from` (after blank lines), or undefined. */
function jsonAt(lines: string[], from: number): unknown {
	let i = from;
	while (i < lines.length && lines[i].trim() === "") i++;
	if (!lines[i]?.trim().startsWith("{")) return undefined;
	const block: string[] = [];
	let depth = 0;
	for (; i < lines.length; i++) {
		block.push(lines[i]);
		depth += (lines[i].match(/[{[]/g) ?? []).length - (lines[i].match(/[}\]]/g) ?? []).length;
		if (depth === 0) break;
	}
	try {
		return JSON.parse(block.join("\n"));
	} catch {
		return undefined; // the contract's few broken blocks
	}
}

export function parseContract(text: string): Map<string, ContractEntry> {
	const lines = text.split("\n");
	const entries = new Map<string, ContractEntry>();
	for (let i = 0; i < lines.length; i++) {
		const m = ENDPOINT.exec(lines[i].trim());
		if (!m) continue;
		const before: string[] = [];
		for (let j = i - 1; j >= 0 && before.length < 3; j--) {
			const line = lines[j].trim();
			if (/^(Response|[}\]])/.test(line)) break; // the previous endpoint's example
			if (line) before.push(line);
		}
		const [maybeEndpoint, ...rest] = before;
		const [description, title] = maybeEndpoint === "Endpoint" ? rest : [null, maybeEndpoint];
		const entry: ContractEntry = { titleVi: title ?? description ?? "", descriptionVi: title ? description : null };
		for (let j = i + 1; j < lines.length && !ENDPOINT.test(lines[j].trim()) && lines[j].trim() !== "Endpoint"; j++) {
			const line = lines[j].trim();
			if (line.startsWith("Request Body") && entry.request === undefined) entry.request = jsonAt(lines, j + 1);
			if (/^Response( 200)?/.test(line) && entry.response === undefined) entry.response = jsonAt(lines, j + 1);
		}
		entries.set(contractKey(m[1], m[2]), entry);
	}
	return entries;
}

let cached: Map<string, ContractEntry> | null = null;
export function contractEntries(): Map<string, ContractEntry> {
	cached ??= parseContract(readFileSync(new URL("../docs/contract/API.vi.md", import.meta.url), "utf8"));
	return cached;
}
