import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { IncomingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { generate } from "selfsigned";

// A merchant's HTTPS endpoint for outbound webhook tests: a certificate of its own CA (written
// to a PEM file the service is told to trust), every request recorded with its raw body, and
// answers chosen per request by the test.

export interface Received {
	path: string;
	headers: IncomingHttpHeaders;
	raw: string;
	body: any;
}

export interface Answer {
	status?: number;
	headers?: Record<string, string>;
	/** Never answer (the sender's timeout or a node stopping decides). */
	hang?: boolean;
}

export interface Receiver {
	url: string;
	caFile: string;
	received: Received[];
	/** Picks the answer to each request (default 200). */
	answer: (req: Received, index: number) => Answer;
	close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
	const pems = await generate([{ name: "commonName", value: "mkt-x test receiver" }], {
		keyType: "ec",
		algorithm: "sha256",
		notAfterDate: new Date(Date.now() + 24 * 3600_000),
		extensions: [
			{ name: "basicConstraints", cA: true, critical: true },
			{ name: "keyUsage", digitalSignature: true, keyCertSign: true, critical: true },
			{ name: "extKeyUsage", serverAuth: true },
			{
				name: "subjectAltName",
				altNames: [
					{ type: 2, value: "localhost" },
					{ type: 7, ip: "127.0.0.1" },
				],
			},
		],
	});
	const dir = mkdtempSync(path.join(os.tmpdir(), "mktx-receiver-"));
	const caFile = path.join(dir, "ca.pem");
	writeFileSync(caFile, pems.cert);
	const hanging = new Set<import("node:http").ServerResponse>();
	const receiver: Receiver = {
		url: "",
		caFile,
		received: [],
		answer: () => ({ status: 200 }),
		close: async () => {
			for (const res of hanging) res.destroy();
			server.closeAllConnections();
			await new Promise(r => server.close(r));
		},
	};
	const server: Server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", c => chunks.push(c));
		req.on("end", () => {
			const raw = Buffer.concat(chunks).toString("utf8");
			let body: unknown = null;
			try {
				body = JSON.parse(raw);
			} catch {
				// kept raw
			}
			const entry: Received = { path: req.url ?? "/", headers: req.headers, raw, body };
			receiver.received.push(entry);
			const answer = receiver.answer(entry, receiver.received.length - 1);
			if (answer.hang) {
				hanging.add(res);
				res.on("close", () => hanging.delete(res));
				return;
			}
			res.writeHead(answer.status ?? 200, { "content-type": "text/plain", ...answer.headers }).end("ok");
		});
	});
	await new Promise<void>(r => server.listen(0, "127.0.0.1", r));
	receiver.url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
	return receiver;
}
