import type { FlowNode } from "./definition.ts";

// Where a run is: a step path, "2" for the third node, "3.then.0" for the first node of the
// `then` branch of the fourth. A path is visited at most once per run (a flow has no loops), so
// "<runId>:<path>" names one step for its claim. These functions read the definition only.

export type Branch = "then" | "else";

function parse(path: string): { parents: { index: number; branch: Branch }[]; index: number } {
	const parts = path.split(".");
	const parents: { index: number; branch: Branch }[] = [];
	for (let i = 0; i + 2 < parts.length; i += 2) parents.push({ index: Number(parts[i]), branch: parts[i + 1] as Branch });
	return { parents, index: Number(parts[parts.length - 1]) };
}

function listAt(nodes: FlowNode[], parents: { index: number; branch: Branch }[]): FlowNode[] | null {
	let list: FlowNode[] | undefined = nodes;
	for (const p of parents) list = list?.[p.index]?.[p.branch];
	return list ?? null;
}

export function nodeAt(nodes: FlowNode[], path: string): FlowNode | null {
	const { parents, index } = parse(path);
	return listAt(nodes, parents)?.[index] ?? null;
}

/** The step after `path` once it is done (leaving finished branches); null at the end of the flow. */
export function nextAfter(nodes: FlowNode[], path: string): string | null {
	const { parents, index } = parse(path);
	const list = listAt(nodes, parents) ?? [];
	const prefix = parents.map(p => `${p.index}.${p.branch}.`).join("");
	if (index + 1 < list.length) return `${prefix}${index + 1}`;
	if (parents.length === 0) return null;
	return nextAfter(nodes, prefix.replace(/\.(then|else)\.$/, ""));
}

/** The first step of a condition's branch, or the step after the condition when it is empty. */
export function enterBranch(nodes: FlowNode[], path: string, branch: Branch): string | null {
	const node = nodeAt(nodes, path);
	if (node?.[branch]?.length) return `${path}.${branch}.0`;
	return nextAfter(nodes, path);
}

/** The path as the API names fields: "3.then.0" → "nodes[3].then[0]". */
export function fieldOf(path: string): string {
	const parts = path.split(".");
	let out = `nodes[${parts[0]}]`;
	for (let i = 1; i + 1 < parts.length; i += 2) out += `.${parts[i]}[${parts[i + 1]}]`;
	return out;
}
