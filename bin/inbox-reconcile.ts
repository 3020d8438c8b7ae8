// `npm run inbox:reconcile -- [--merchant <id>] [--fix]`: recounts the figures the inbox's
// account writers keep by increments (conversations' message counts and last message, contacts'
// messages and conversations) from the rows themselves and prints what drifted, one JSON line;
// with --fix it writes the recount (run it when no burst is being drained). Progress on stderr.
import { parseArgs } from "node:util";
import { ServiceBroker } from "moleculer";
import { ConfigError } from "../lib/config.ts";
import { openCliDatabase } from "../lib/cli-database.ts";
import { loadServiceSchemas } from "../lib/services.ts";
import { reconcile } from "../services/inbox/reconcile.ts";

async function main() {
	const { values } = parseArgs({
		options: { merchant: { type: "string" }, fix: { type: "boolean" }, help: { type: "boolean", short: "h" } },
	});
	if (values.help) {
		console.error("usage: npm run inbox:reconcile -- [--merchant <id>] [--fix]");
		return;
	}
	const db = await openCliDatabase();
	// A local broker with the contacts service only (the owner of the contacts' figures); no
	// transporter and no inbox: nothing here drains the queue.
	const { brokerOptions } = await import("../moleculer.config.ts");
	const broker = new ServiceBroker(
		brokerOptions(db.config, {
			logger: false,
			transporter: null,
			nodeID: `inbox-reconcile-${process.pid}`,
			skipProcessEventRegistration: true,
		})
	);
	for (const schema of await loadServiceSchemas(["contacts"])) broker.createService(schema);
	await broker.start();
	try {
		const report = await reconcile(
			broker,
			{ merchantId: values.merchant, fix: values.fix },
			{ info: (line: string) => console.error(line) }
		);
		console.log(JSON.stringify({ ...report, driftCount: report.drift.length }));
		if (report.drift.length && !values.fix) process.exitCode = 3;
	} finally {
		await broker.stop();
		await db.close();
	}
}

main().catch(err => {
	console.error(err instanceof ConfigError ? `inbox:reconcile cannot start: ${err.message}` : err);
	process.exit(1);
});
