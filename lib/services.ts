import { readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { ServiceSchema } from "moleculer";
import { projectRoot } from "./ferretdb.ts";

const servicesDir = path.join(projectRoot, "services");

/** Every service this project has, by name: services/<name>.service.ts. */
export function serviceNames(): string[] {
	return readdirSync(servicesDir)
		.filter(f => f.endsWith(".service.ts"))
		.map(f => f.slice(0, -".service.ts".length))
		.sort();
}

/**
 * The schemas to run on this node: all of them, or only those SERVICES names
 * (e.g. SERVICES=api on a gateway node, SERVICES=accounts,contacts on a core node).
 */
export async function loadServiceSchemas(only: string[] = []): Promise<ServiceSchema[]> {
	const known = serviceNames();
	const unknown = only.filter(name => !known.includes(name));
	if (unknown.length) throw new Error(`Unknown service(s) in SERVICES: ${unknown.join(", ")}. Known: ${known.join(", ")}`);
	const chosen = only.length ? known.filter(name => only.includes(name)) : known;
	const schemas: ServiceSchema[] = [];
	for (const name of chosen) {
		const mod = (await import(pathToFileURL(path.join(servicesDir, `${name}.service.ts`)).href)) as { default: ServiceSchema };
		schemas.push(mod.default);
	}
	return schemas;
}
