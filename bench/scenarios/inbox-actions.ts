import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { ServiceBroker } from "moleculer";
import { ConversationModel } from "../../models/conversation.model.ts";
import { config } from "../../lib/config.ts";
import { signToken } from "../../lib/auth.ts";
import { progress, timeRuns } from "../measure.ts";
import { startBroker } from "../env.ts";
import { counted, perUnit } from "../commands.ts";

// The latency of a lone agent action through the gateway: PUT /conversations/:id/close and POST
// /conversations/:id/assign on an idle inbox, one request at a time (what an agent feels when
// clicking). Both are applied by the account's writer (docs/ingest.md), so this is the queue's
// round trip: the row queued, the writer woken, its batch, the answer. Baseline in the same run:
// GET /conversations/:id through the same gateway (one read). ratio = baseline p50 / close p50.

export async function run({ scale = 1 }: { scale?: number }) {
	const runs = Math.max(10, Math.round(60 * scale));
	const broker: ServiceBroker = await startBroker(["api", "inbox", "contacts"], { api: { rateLimitPerMinute: 1_000_000_000 } });
	const merchantId = "bench-merchant";
	const accountId = randomUUID();
	const conversations = Array.from({ length: 2 * runs + 10 }, () => {
		const contactId = randomUUID();
		return { merchantId, accountId, contactId, openKey: `open:${contactId}`, messageCount: 1, lastMessageAt: new Date() };
	});
	const ids = (await ConversationModel.insertMany(conversations)).map(c => String(c._id));
	const token = signToken({ merchantId, userId: "agent-1" }, config().jwt);
	const api = broker.getLocalService("api") as unknown as { server: Server };
	const base = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}/api/v1/mkt-x/conversations`;
	const request = async (method: string, path: string, body?: unknown) => {
		const res = await fetch(`${base}${path}`, {
			method,
			headers: { Authorization: `Bearer ${token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
			body: body ? JSON.stringify(body) : undefined,
		});
		const json = (await res.json()) as { data?: { status?: string; assignedToUserId?: string } };
		if (res.status !== 200) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
		return json.data!;
	};

	let next = 0;
	progress(`inbox-actions: ${runs} lone requests of each kind`);
	const get = await timeRuns(() => request("GET", `/${ids[0]}?includeMessages=false`), runs);
	const assign = await counted(() =>
		timeRuns(async () => {
			const data = await request("POST", `/${ids[next++]}/assign`, { userId: "agent-2" });
			if (data.assignedToUserId !== "agent-2") throw new Error("not assigned");
		}, runs)
	);
	const close = await counted(() =>
		timeRuns(async () => {
			const data = await request("PUT", `/${ids[next++]}/close`, {});
			if (data.status !== "closed") throw new Error("not closed");
		}, runs)
	);
	const closeCommands = perUnit(close.commands, runs + 3, ["agenda_jobs"]);
	progress(`inbox-actions: GET p50 ${get.p50ms} ms; assign p50 ${assign.result.p50ms} ms; close p50 ${close.result.p50ms} ms`);
	await broker.stop();
	return {
		scenario: "inbox-actions",
		ratio: Math.round((get.p50ms / close.result.p50ms) * 100) / 100,
		candidate: { close: close.result, assign: assign.result, closeCommandsPerRequest: closeCommands.perUnit },
		baseline: { get },
		commands: closeCommands,
	};
}
