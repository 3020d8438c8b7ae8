// `npm run bench [scenario ...] [-- --scale 0.1]`: one JSON line per scenario on stdout, with
// `ratio` = ours against a baseline measured in the same run (higher is better). Progress on stderr.
import { parseArgs } from "node:util";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { startDatabase } from "./env.ts";
import { resetConfig } from "../lib/config.ts";
import { progress } from "./measure.ts";

const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), "scenarios");
const available = readdirSync(dir)
	.filter(f => f.endsWith(".ts"))
	.map(f => f.slice(0, -3))
	.sort();

// Without --scale each scenario uses its own default (1 for most; see the scenario's header).
const { values, positionals } = parseArgs({ allowPositionals: true, options: { scale: { type: "string" } } });
const chosen = positionals.length ? positionals : available;
const unknown = chosen.filter(s => !available.includes(s));
if (unknown.length) {
	console.error(`unknown scenario(s): ${unknown.join(", ")}; available: ${available.join(", ")}`);
	process.exit(2);
}

process.env.LOG_LEVEL = "error";
for (const scenario of chosen) {
	const db = await startDatabase();
	process.env.MONGO_URL = db.url.replace(/\/[^/]*$/, `/bench_${scenario.replace(/-/g, "_")}_${Date.now()}`);
	resetConfig();
	progress(`${scenario}: database ${process.env.MONGO_URL}`);
	try {
		const mod = (await import(pathToFileURL(path.join(dir, `${scenario}.ts`)).href)) as { run(opts: { scale?: number }): Promise<object> };
		const result = await mod.run({ scale: values.scale === undefined ? undefined : Number(values.scale) });
		console.log(JSON.stringify(result));
	} finally {
		await db.stop();
	}
}
process.exit(0);
