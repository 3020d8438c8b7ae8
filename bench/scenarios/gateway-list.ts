import http, { type Server } from "node:http";
import type { AddressInfo } from "node:net";
import jwt from "jsonwebtoken";
import mongoose from "mongoose";
import type { ServiceBroker } from "moleculer";
import { AccountModel } from "../../models/account.model.ts";
import { config } from "../../lib/config.ts";
import { signToken } from "../../lib/auth.ts";
import { load, progress } from "../measure.ts";
import { startBroker } from "../env.ts";
import { counted, perUnit } from "../commands.ts";

// GET /accounts through the whole gateway (JWT, rate-limit store, Ajv, action, mongoose, envelope)
// against a bare node:http handler that verifies the same JWT and runs the same query with the
// mongodb driver. ratio = our requests/s over the bare handler's. Database commands per request
// are counted on each side (the rate-limit counters live in NATS KV or memory, not the database).

export async function run({ scale = 1 }: { scale?: number }) {
	const requests = Math.max(200, Math.round(3000 * scale));
	const concurrency = 16;
	const broker: ServiceBroker = await startBroker(["api", "accounts"], { api: { rateLimitPerMinute: 1_000_000_000 } });
	const merchantId = "bench-merchant";
	await AccountModel.insertMany(Array.from({ length: 25 }, (_, i) => ({ merchantId, twitterUserId: `b${i}`, username: `shop_${i}` })));
	const token = signToken({ merchantId }, config().jwt);
	const api = broker.getLocalService("api") as unknown as { server: Server };
	const gatewayUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/mkt-x/accounts`;

	const collection = mongoose.connection.db!.collection("accounts");
	const bare = http.createServer(async (req, res) => {
		try {
			const claims = jwt.verify((req.headers.authorization ?? "").slice(7), config().jwt.secret, { algorithms: ["HS256"] }) as {
				merchantId: string;
			};
			const filter = { merchantId: claims.merchantId };
			const [rows, total] = await Promise.all([
				collection.find(filter).sort({ connectedAt: -1, _id: 1 }).limit(20).toArray(),
				collection.countDocuments(filter),
			]);
			res.writeHead(200, { "Content-Type": "application/json" });
			res.end(JSON.stringify({ success: true, data: rows, pagination: { total } }));
		} catch {
			res.writeHead(401);
			res.end();
		}
	});
	await new Promise<void>(r => bare.listen(0, "127.0.0.1", r));
	const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/accounts`;

	const get = (url: string) => async () => {
		const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
		await res.arrayBuffer();
		return res.status === 200;
	};
	progress(`gateway-list: warm-up`);
	await load(get(gatewayUrl), 200, concurrency);
	await load(get(bareUrl), 200, concurrency);
	progress(`gateway-list: ${requests} requests, concurrency ${concurrency}, baseline first`);
	const base = await counted(() => load(get(bareUrl), requests, concurrency));
	const baseline = { ...base.result, commandsPerRequest: perUnit(base.commands, requests).perUnit };
	progress(`gateway-list: baseline ${baseline.rps} req/s; now the gateway`);
	const ours = await counted(() => load(get(gatewayUrl), requests, concurrency));
	const commands = perUnit(ours.commands, requests);
	const candidate = { ...ours.result, commandsPerRequest: commands.perUnit };
	progress(
		`gateway-list: gateway ${candidate.rps} req/s, ${commands.perUnit} database commands per request (bare ${baseline.commandsPerRequest})`
	);

	await new Promise(r => bare.close(r));
	await broker.stop();
	return { scenario: "gateway-list", ratio: Math.round((candidate.rps / baseline.rps) * 100) / 100, candidate, baseline, commands };
}
