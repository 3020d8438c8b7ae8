import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { projectRoot } from "../../lib/ferretdb.ts";

// Ownership, checked from the source itself: a model's owner is the service whose DbMixin([...])
// lists it, and a service's code (its file and its folder) may import another service's model
// only where docs/architecture.md names that read, with its reason. Neither list is kept here,
// so the test cannot drift from the code or the doc.

const servicesDir = path.join(projectRoot, "services");
const READ_METHODS = new Set([
	"find",
	"findOne",
	"findById",
	"countDocuments",
	"estimatedDocumentCount",
	"distinct",
	"exists",
	"aggregate",
]);

const read = (file: string) => readFileSync(file, "utf8");
const rel = (file: string) => path.relative(projectRoot, file).split(path.sep).join("/");

function filesUnder(dir: string): string[] {
	return readdirSync(dir).flatMap(name => {
		const full = path.join(dir, name);
		return statSync(full).isDirectory() ? filesUnder(full) : name.endsWith(".ts") ? [full] : [];
	});
}

/** Value imports of a file: imported name → resolved module path (type-only imports are skipped: a type is no read). */
function valueImports(file: string): Map<string, string> {
	const out = new Map<string, string>();
	for (const m of read(file).matchAll(/import\s+(type\s+)?\{([^}]*)\}\s+from\s+"([^"]+)"/g)) {
		if (m[1] || !m[3].startsWith(".")) continue;
		const from = path.resolve(path.dirname(file), m[3]);
		for (const part of m[2].split(",")) {
			const name = part.trim();
			if (!name || name.startsWith("type ")) continue;
			out.set(name.split(/\s+as\s+/).pop()!, from);
		}
	}
	return out;
}

const isModelFile = (file: string) => /\/models\/[^/]+\.model\.ts$/.test(file);

/** The model files a DbMixin list names, following a constant array to the module that exports it. */
function modelsOf(file: string, list: string): string[] {
	const imports = valueImports(file);
	return list
		.split(",")
		.map(s => s.trim())
		.filter(Boolean)
		.flatMap(name => {
			const from = imports.get(name);
			if (from && isModelFile(from)) return [from];
			const holder = from ?? file;
			const decl = new RegExp(`const\\s+${name}\\s*=\\s*\\[([^\\]]*)\\]`).exec(read(holder));
			if (!decl) throw new Error(`${rel(file)}: cannot resolve ${name} in DbMixin([...])`);
			return modelsOf(holder, decl[1]);
		});
}

function owners(): Map<string, string> {
	const owner = new Map<string, string>();
	for (const name of readdirSync(servicesDir).filter(f => f.endsWith(".service.ts"))) {
		const file = path.join(servicesDir, name);
		const m = /DbMixin\(\s*\[([^\]]*)\]\s*\)|DbMixin\(\s*(\w+)\s*\)/.exec(read(file));
		if (!m) continue;
		const models = m[1] !== undefined ? modelsOf(file, m[1]) : modelsOf(file, m[2]);
		for (const model of models) {
			const service = name.slice(0, -".service.ts".length);
			if (owner.has(model)) throw new Error(`${rel(model)} is listed by both ${owner.get(model)} and ${service}`);
			owner.set(model, service);
		}
	}
	return owner;
}

/** The service a file belongs to: services/<name>.service.ts and everything under services/<name>/. */
function serviceOf(file: string): string {
	const [first] = path.relative(servicesDir, file).split(path.sep);
	return first.endsWith(".service.ts") ? first.slice(0, -".service.ts".length) : first;
}

interface ForeignRead {
	file: string;
	model: string;
	binding: string;
}

function foreignReads(owner: Map<string, string>): ForeignRead[] {
	const found: ForeignRead[] = [];
	for (const file of filesUnder(servicesDir)) {
		for (const [binding, from] of valueImports(file)) {
			if (!isModelFile(from) || !binding.endsWith("Model")) continue;
			const of = owner.get(from);
			if (of === undefined) throw new Error(`${rel(file)} imports ${binding} of ${rel(from)}, which no service's DbMixin owns`);
			if (of !== serviceOf(file)) found.push({ file: rel(file), model: binding, binding });
		}
	}
	return found;
}

/** The "Read models" table of docs/architecture.md: file → model names allowed there. */
function declaredReadModels(): Map<string, Set<string>> {
	const doc = read(path.join(projectRoot, "docs/architecture.md"));
	const section = doc.split(/^## /m).find(s => s.startsWith("Read models"));
	if (!section) throw new Error('docs/architecture.md has no "## Read models" section');
	const allowed = new Map<string, Set<string>>();
	for (const line of section.split("\n").filter(l => l.startsWith("| `services/"))) {
		const [reader, models] = line.split("|").slice(1, 3);
		const file = /`([^`]+)`/.exec(reader)![1];
		const names = [...models.matchAll(/`(\w+Model)`/g)].map(m => m[1]);
		allowed.set(file, new Set([...(allowed.get(file) ?? []), ...names]));
	}
	return allowed;
}

describe("service boundaries", () => {
	const owner = owners();
	const reads = foreignReads(owner);
	const allowed = declaredReadModels();

	test("every model a service uses has exactly one owning service", () => {
		// owners() throws on a model listed twice and foreignReads() on a model nobody owns.
		expect(owner.size).toBeGreaterThan(10);
		expect(new Set(owner.values())).toEqual(
			new Set([
				"accounts",
				"ai",
				"analytics",
				"campaigns",
				"contacts",
				"flows",
				"inbox",
				"outbound-webhooks",
				"segments",
				"templates",
				"webhooks",
				"x",
			])
		);
	});

	test("a service imports another service's model only where docs/architecture.md names the read model", () => {
		const undeclared = reads.filter(r => !allowed.get(r.file)?.has(r.model)).map(r => `${r.file} imports ${r.model}`);
		expect(undeclared).toEqual([]);
	});

	test("the read models table names no read that the code no longer makes", () => {
		const stale = [...allowed].flatMap(([file, models]) =>
			[...models].filter(model => !reads.some(r => r.file === file && r.model === model)).map(model => `${file} ${model}`)
		);
		expect(stale).toEqual([]);
	});

	test("a read model only reads: no write through another service's model", () => {
		const writes = reads.flatMap(r => {
			const src = read(path.join(projectRoot, r.file));
			const calls = [...src.matchAll(new RegExp(`\\b${r.binding}\\.(\\w+)`, "g"))].map(m => m[1]).filter(m => !READ_METHODS.has(m));
			const created = new RegExp(`new\\s+${r.binding}\\b`).test(src) ? ["new"] : [];
			return [...calls, ...created].map(call => `${r.file}: ${r.model}.${call}`);
		});
		expect(writes).toEqual([]);
	});
});
