import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Service } from "moleculer";
import type { Config } from "../../lib/config.ts";
import { startXSandbox, type SandboxUserInput, type XSandbox } from "../../sandbox/x-sandbox.ts";

// `X_SANDBOX=1 npm start`: the x service starts the X sandbox in its own process and points its
// client at it, so the whole inbox works with no X credentials. One demo account is ready to
// connect; the sandbox's control API makes a customer write to it (docs/x-channel.md).

/** The token pair a newcomer gives POST /accounts in sandbox mode. */
export const DEMO_ACCOUNT: SandboxUserInput = {
	token: "sandbox-token",
	tokenSecret: "sandbox-token-secret",
	id: "1000000001",
	username: "mktx_demo_shop",
	name: "MKT-X Demo Shop",
};

/** Where the gateway on this node takes X's webhook (services/api.service.ts). */
export const LOCAL_WEBHOOK_PATH = "/api/v1/mkt-x/webhooks/twitter";

export async function startSandboxMode(cfg: Config, logger: Service["logger"]): Promise<XSandbox> {
	const webhookUrl = cfg.x.sandboxWebhookUrl ?? `http://127.0.0.1:${cfg.port}${LOCAL_WEBHOOK_PATH}`;
	let sandbox: XSandbox;
	try {
		sandbox = await startXSandbox({
			port: cfg.x.sandboxPort,
			consumerKey: cfg.x.consumerKey,
			consumerSecret: cfg.x.consumerSecret,
			webhookUrl,
		});
	} catch (err) {
		if ((err as NodeJS.ErrnoException).code === "EADDRINUSE") {
			throw new Error(
				`X_SANDBOX_PORT ${cfg.x.sandboxPort} is in use (another node running the sandbox?): set X_SANDBOX_PORT to a free port, or 0`
			);
		}
		throw err;
	}
	sandbox.addUser(DEMO_ACCOUNT);
	const caFile = path.resolve(cfg.dataDir, "x-sandbox-ca.pem");
	mkdirSync(path.dirname(caFile), { recursive: true });
	writeFileSync(caFile, sandbox.ca);
	logger.warn(
		`X sandbox (not the real X) at ${sandbox.url}, delivering webhooks to ${webhookUrl}. ` +
			`Connect the demo account with oauthToken "${DEMO_ACCOUNT.token}" / oauthTokenSecret "${DEMO_ACCOUNT.tokenSecret}"; ` +
			`make a customer write: curl --cacert ${caFile} -X POST ${sandbox.url}/sandbox/inbound -H 'content-type: application/json' ` +
			`-d '{"to":"${DEMO_ACCOUNT.id}","text":"Xin chào"}'`
	);
	return sandbox;
}
