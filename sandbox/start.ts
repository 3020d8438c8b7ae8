// The X sandbox on its own: `node sandbox/start.ts`. For running mkt-x against it from another
// process (or several nodes against one sandbox); `X_SANDBOX=1 npm start` instead runs it inside
// the x service. It prints the variables that point mkt-x at it.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError, SANDBOX_CONSUMER_KEY, SANDBOX_CONSUMER_SECRET, loadConfig } from "../lib/config.ts";
import { DEMO_ACCOUNT, LOCAL_WEBHOOK_PATH } from "../services/x/sandbox-mode.ts";
import { startXSandbox } from "./x-sandbox.ts";

async function main() {
	const cfg = loadConfig();
	const consumerKey = cfg.x.consumerKey || SANDBOX_CONSUMER_KEY;
	const consumerSecret = cfg.x.consumerSecret || SANDBOX_CONSUMER_SECRET;
	const webhookUrl = cfg.x.sandboxWebhookUrl ?? `http://127.0.0.1:${cfg.port}${LOCAL_WEBHOOK_PATH}`;
	const sandbox = await startXSandbox({
		port: cfg.x.sandboxPort,
		host: process.env.X_SANDBOX_HOST || "127.0.0.1",
		consumerKey,
		consumerSecret,
		webhookUrl,
	});
	sandbox.addUser(DEMO_ACCOUNT);
	const caFile = path.resolve(cfg.dataDir, "x-sandbox-ca.pem");
	mkdirSync(path.dirname(caFile), { recursive: true });
	writeFileSync(caFile, sandbox.ca);

	console.log(`X sandbox listening at ${sandbox.url}; webhooks go to ${webhookUrl}\n`);
	console.log("Run mkt-x against it with:");
	console.log(
		`  X_API_BASE_URL=${sandbox.url} X_API_CA_FILE=${caFile} X_CONSUMER_KEY=${consumerKey} X_CONSUMER_SECRET=${consumerSecret} npm start\n`
	);
	console.log(
		`Demo account token: oauthToken "${DEMO_ACCOUNT.token}", oauthTokenSecret "${DEMO_ACCOUNT.tokenSecret}" (X user ${DEMO_ACCOUNT.id})`
	);
	console.log("A customer writes to it:");
	console.log(
		`  curl --cacert ${caFile} -X POST ${sandbox.url}/sandbox/inbound -H 'content-type: application/json' -d '{"to":"${DEMO_ACCOUNT.id}","text":"Xin chào"}'`
	);
	console.log(`DMs the service sent: curl --cacert ${caFile} ${sandbox.url}/sandbox/dms`);

	const stop = async () => {
		await sandbox.stop();
		process.exit(0);
	};
	process.on("SIGINT", () => void stop());
	process.on("SIGTERM", () => void stop());
}

main().catch(err => {
	console.error(err instanceof ConfigError ? `x sandbox cannot start: ${err.message}` : err);
	process.exit(1);
});
