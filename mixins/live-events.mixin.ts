import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Context, Service, ServiceSchema } from "moleculer";

// Live updates for the dashboard: GET /api/v1/mkt-x/events, Server-Sent Events of the token's
// merchant. They come from broker events, so a message ingested on one node reaches a
// dashboard connected to a gateway on any other. Each gateway node subscribes through a relay
// service of its own (a consumer group per node), so every node sees every event rather than
// one node per event. A short replay window per merchant serves `Last-Event-ID` on reconnect.
// An event's id is a hash of its name and payload: every node receives the same payload (each
// with a context id of its own), so a dashboard can resume on any gateway.

export const LIVE_EVENTS = [
	"message.received",
	"message.sent",
	"message.failed",
	"message.read",
	"conversation.created",
	"conversation.assigned",
	"conversation.closed",
	"conversation.escalated",
	"contact.created",
	"campaign.started",
	"campaign.progress",
	"campaign.completed",
] as const;

interface LiveEvent {
	id: string;
	event: string;
	data: string;
	at: number;
}

interface LiveClient {
	merchantId: string;
	res: ServerResponse;
}

type LiveThis = Omit<Service, "settings"> & {
	settings: { liveHeartbeatMs: number; liveReplayMs: number; liveReplayMax: number };
	liveClients: Set<LiveClient>;
	liveBuffers: Map<string, LiveEvent[]>;
	liveRelay: Service | null;
	liveTimer: NodeJS.Timeout | null;
	pushLive(event: string, params: Record<string, unknown>, id: string): void;
};

export function eventId(name: string, params: unknown): string {
	return createHash("sha256")
		.update(name)
		.update("\0")
		.update(JSON.stringify(params ?? null))
		.digest("base64url")
		.slice(0, 22);
}

function frame(e: LiveEvent): string {
	return `id: ${e.id}\nevent: ${e.event}\ndata: ${e.data}\n\n`;
}

const mixin: ThisType<LiveThis> & Record<string, unknown> = {
	settings: { liveHeartbeatMs: 15_000, liveReplayMs: 5 * 60_000, liveReplayMax: 1000 },

	created() {
		this.liveClients = new Set();
		this.liveBuffers = new Map();
		this.liveRelay = null;
		this.liveTimer = null;
	},

	async started() {
		const relayName = `live-relay-${this.broker.nodeID.replace(/[^A-Za-z0-9_-]/g, "_")}`;
		this.liveRelay = this.broker.createService({
			name: relayName,
			events: Object.fromEntries(
				LIVE_EVENTS.map(name => [
					name,
					{ handler: (ctx: Context<Record<string, unknown>>) => this.pushLive(name, ctx.params ?? {}, eventId(name, ctx.params)) },
				])
			),
		}) as Service;
		this.liveTimer = setInterval(() => {
			for (const client of this.liveClients) client.res.write(": heartbeat\n\n");
		}, this.settings.liveHeartbeatMs);
		this.liveTimer.unref();
	},

	async stopped() {
		if (this.liveTimer) clearInterval(this.liveTimer);
		for (const client of this.liveClients) client.res.end();
		this.liveClients.clear();
		if (this.liveRelay) await this.broker.destroyService(this.liveRelay).catch(() => {});
	},

	methods: {
		pushLive(event: string, params: Record<string, unknown>, id: string) {
			const merchantId = typeof params.merchantId === "string" ? params.merchantId : null;
			if (!merchantId) return;
			const now = Date.now();
			const entry: LiveEvent = { id, event, data: JSON.stringify(params), at: now };
			const buffer = this.liveBuffers.get(merchantId) ?? [];
			if (buffer.some(e => e.id === id)) return; // the same event delivered twice
			buffer.push(entry);
			while (buffer.length > this.settings.liveReplayMax || (buffer.length && buffer[0].at < now - this.settings.liveReplayMs))
				buffer.shift();
			this.liveBuffers.set(merchantId, buffer);
			for (const client of this.liveClients) if (client.merchantId === merchantId) client.res.write(frame(entry));
		},

		/** Opens the stream (the gateway authenticated the request and put the merchant in meta). */
		openLiveStream(req: IncomingMessage & { $ctx?: Context<unknown, { merchantId?: string }> }, res: ServerResponse) {
			const merchantId = req.$ctx?.meta.merchantId;
			if (!merchantId) {
				res.writeHead(401).end();
				return;
			}
			res.writeHead(200, {
				"Content-Type": "text/event-stream; charset=utf-8",
				"Cache-Control": "no-cache, no-transform",
				Connection: "keep-alive",
				"X-Accel-Buffering": "no",
			});
			res.write("retry: 3000\n\n");
			const lastEventId = req.headers["last-event-id"];
			if (typeof lastEventId === "string" && lastEventId) {
				const buffer = this.liveBuffers.get(merchantId) ?? [];
				const at = buffer.findIndex(e => e.id === lastEventId);
				if (at >= 0) for (const e of buffer.slice(at + 1)) res.write(frame(e));
				else res.write(`event: resync\ndata: {"reason":"last event is outside the replay window"}\n\n`);
			}
			const client: LiveClient = { merchantId, res };
			this.liveClients.add(client);
			req.on("close", () => this.liveClients.delete(client));
		},
	},
};

export const LiveEventsMixin = mixin as unknown as Partial<ServiceSchema>;
