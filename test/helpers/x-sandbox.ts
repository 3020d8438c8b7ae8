import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { withEnv } from "./env.ts";
import { startXSandbox, type XSandbox, type XSandboxOptions } from "../../sandbox/x-sandbox.ts";

// The X sandbox for a test file: started on a free port with a consumer key and secret of its
// own, its certificate written to a file that X_API_CA_FILE names, and the environment pointed
// at it (call before startNode). stop() puts the environment back. Accounts of its users:
// ./accounts.ts.

export interface TestSandbox {
	sandbox: XSandbox;
	consumerKey: string;
	consumerSecret: string;
	caFile: string;
	stop(): Promise<void>;
}

export async function startTestSandbox(opts: Partial<XSandboxOptions> = {}): Promise<TestSandbox> {
	const consumerKey = `ck-${randomBytes(6).toString("hex")}`;
	const consumerSecret = `cs-${randomBytes(16).toString("hex")}`;
	const sandbox = await startXSandbox({ consumerKey, consumerSecret, ...opts });
	const dir = mkdtempSync(path.join(os.tmpdir(), "mktx-x-sandbox-"));
	const caFile = path.join(dir, "ca.pem");
	writeFileSync(caFile, sandbox.ca);

	const restoreEnv = withEnv({
		X_API_BASE_URL: sandbox.url,
		X_CONSUMER_KEY: consumerKey,
		X_CONSUMER_SECRET: consumerSecret,
		X_API_CA_FILE: caFile,
		// The test's image server listens on 127.0.0.1.
		MEDIA_ALLOW_PRIVATE_HOSTS: "true",
		X_SANDBOX: "false",
	});

	return {
		sandbox,
		consumerKey,
		consumerSecret,
		caFile,
		async stop() {
			await sandbox.stop();
			restoreEnv();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}

/** A plain HTTP server on 127.0.0.1 answering each path with a fixed status, type and body. */
export async function startFileServer(
	files: Record<string, { type: string; body: Buffer; status?: number; headers?: Record<string, string> }>
) {
	const server: Server = createServer((req, res) => {
		const file = files[req.url ?? ""];
		if (!file) {
			res.writeHead(404).end();
			return;
		}
		res.writeHead(file.status ?? 200, { "content-type": file.type, "content-length": file.body.length, ...file.headers });
		res.end(file.body);
	});
	await new Promise<void>(resolve => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: (p: string) => `http://127.0.0.1:${port}${p}`,
		stop: () => new Promise<void>(resolve => server.close(() => resolve())),
	};
}

/** A small valid PNG (the 8-byte signature, then filler up to `size` bytes). */
export function pngBytes(size = 2048): Buffer {
	const buf = randomBytes(size);
	Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(buf, 0);
	return buf;
}
