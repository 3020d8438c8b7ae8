// `npm run bench [scenario ...] [-- --scale 0.1]`: one JSON line per scenario on stdout, with
// `ratio` = ours against a baseline measured in the same run (higher is better). Progress on stderr.
// One database server for the whole run; each scenario gets a database of its own, dropped after
// it, and starts on a fresh connection with every broker of the one before stopped (bench/env.ts).
import { parseArgs } from "node:util";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import mongoose from "mongoose";
import { SIDE_POOL } from "../lib/db.ts";
import { endScenario, startDatabase } from "./env.ts";
import { withCommandMonitoring } from "./commands.ts";
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
const scale = values.scale === undefined ? undefined : Number(values.scale);
if (scale !== undefined && !(scale > 0)) {
	console.error(`--scale must be a number above 0, got "${values.scale}"`);
	process.exit(2);
}

process.env.LOG_LEVEL = "error";
const db = await startDatabase();
const failed: string[] = [];
try {
	for (const scenario of chosen) {
		// A scenario may set variables of its own (X sandbox, transporter, limits): none outlives it.
		const env = { ...process.env };
		const dbUrl = withDatabaseName(db.url, `bench_${scenario.replace(/-/g, "_")}_${Date.now()}`);
		// Every scenario counts its database commands (bench/commands.ts).
		process.env.MONGO_URL = withCommandMonitoring(dbUrl);
		resetConfig();
		progress(`${scenario}: database ${dbUrl}`);
		const started = performance.now();
		try {
			const mod = (await import(pathToFileURL(path.join(dir, `${scenario}.ts`)).href)) as {
				run(opts: { scale?: number }): Promise<object>;
			};
			const result = await mod.run({ scale });
			console.log(JSON.stringify(result));
		} catch (err) {
			failed.push(scenario);
			progress(`${scenario} failed: ${(err as Error).stack ?? err}`);
		} finally {
			await endScenario();
			await dropDatabase(dbUrl);
			for (const key of Object.keys(process.env)) if (!(key in env)) delete process.env[key];
			Object.assign(process.env, env);
			resetConfig();
			progress(`${scenario}: done in ${Math.round((performance.now() - started) / 1000)} s`);
		}
	}
} finally {
	await db.stop();
}
if (failed.length) progress(`failed: ${failed.join(", ")}`);
process.exit(failed.length ? 1 : 0);

/** The same server and options, another database. */
function withDatabaseName(url: string, name: string): string {
	const m = /^(mongodb(?:\+srv)?:\/\/[^/?]+)(\/[^?]*)?(\?.*)?$/.exec(url);
	if (!m) throw new Error(`cannot read the database server from ${url}`);
	return `${m[1]}/${name}${m[3] ?? ""}`;
}

/** The scenario's database goes with it: the next starts empty and the disk does not fill up. */
async function dropDatabase(url: string) {
	const conn = await mongoose.createConnection(url, { serverSelectionTimeoutMS: 10_000, ...SIDE_POOL }).asPromise();
	try {
		await conn.dropDatabase();
	} catch (err) {
		progress(`could not drop ${url}: ${(err as Error).message}`);
	} finally {
		await conn.close();
	}
}
