// `npm run analytics:rebuild -- [--merchant <id> ...]`: recomputes the analytics facts and
// counters from the raw rows (contacts, conversations, messages, campaigns), for the merchants
// named or for every merchant. Safe to run while the service runs (services/analytics/rebuild.ts).
// Prints one JSON line per merchant on stdout; progress on stderr.
import { parseArgs } from "node:util";
import { ConfigError } from "../lib/config.ts";
import { openCliDatabase } from "../lib/cli-database.ts";
import { knownMerchants, rebuildMerchant } from "../services/analytics/rebuild.ts";
import { ANALYTICS_MODELS } from "../services/analytics/store.ts";

async function main() {
	const { values } = parseArgs({ options: { merchant: { type: "string", multiple: true }, help: { type: "boolean", short: "h" } } });
	if (values.help) {
		console.error("usage: npm run analytics:rebuild -- [--merchant <id> ...]   (every merchant when none is named)");
		return;
	}
	const db = await openCliDatabase();
	try {
		for (const model of ANALYTICS_MODELS) await model.createIndexes();
		const merchants = values.merchant?.length ? values.merchant : await knownMerchants();
		console.error(`analytics:rebuild: ${merchants.length} merchant(s)`);
		for (const merchantId of merchants) {
			const result = await rebuildMerchant(merchantId, { log: line => console.error(`analytics:rebuild: ${line}`) });
			console.log(JSON.stringify(result));
		}
	} finally {
		await db.close();
	}
}

main().catch(err => {
	console.error(err instanceof ConfigError ? `analytics:rebuild cannot start: ${err.message}` : err);
	process.exit(1);
});
