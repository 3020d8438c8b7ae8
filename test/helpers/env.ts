import { resetConfig } from "../../lib/config.ts";

/**
 * Sets environment variables for a test and reloads the configuration; the function it returns
 * puts back what was there (unset variables are unset again) and reloads it once more.
 */
export function withEnv(vars: Record<string, string>): () => void {
	const saved = Object.fromEntries(Object.keys(vars).map(k => [k, process.env[k]]));
	Object.assign(process.env, vars);
	resetConfig();
	return () => {
		for (const [k, v] of Object.entries(saved)) {
			if (v === undefined) delete process.env[k];
			else process.env[k] = v;
		}
		resetConfig();
	};
}
