import { API_BASE, EVENTS_PATH } from "./endpoints.ts";
import { session } from "./session.ts";

// The live stream (Server-Sent Events). EventSource cannot send the bearer token, so the
// stream is read with fetch; on a drop it reconnects with Last-Event-ID like EventSource would.

export type LiveHandler = (event: string, data: any) => void;
const handlers = new Set<LiveHandler>();
let controller: AbortController | null = null;
let lastEventId = "";
let state: "off" | "connecting" | "live" = "off";
const stateListeners = new Set<(s: typeof state) => void>();

export function onLive(handler: LiveHandler): () => void {
	handlers.add(handler);
	return () => handlers.delete(handler);
}

export function onLiveState(listener: (s: typeof state) => void): () => void {
	stateListeners.add(listener);
	listener(state);
	return () => stateListeners.delete(listener);
}

function setState(next: typeof state) {
	state = next;
	for (const l of stateListeners) l(next);
}

export function stopLive() {
	controller?.abort();
	controller = null;
	setState("off");
}

export function startLive() {
	stopLive();
	const mine = new AbortController();
	controller = mine;
	void (async () => {
		while (!mine.signal.aborted) {
			setState("connecting");
			try {
				await readStream(mine.signal);
			} catch {
				// dropped: wait and reconnect
			}
			if (mine.signal.aborted) break;
			setState("connecting");
			await new Promise(r => setTimeout(r, 3000));
		}
	})();
}

async function readStream(signal: AbortSignal) {
	const token = session()?.token;
	if (!token) return;
	const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "text/event-stream" };
	if (lastEventId) headers["Last-Event-ID"] = lastEventId;
	const res = await fetch(`${API_BASE}${EVENTS_PATH}`, { headers, signal });
	if (!res.ok || !res.body) throw new Error(`events: HTTP ${res.status}`);
	setState("live");
	const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
	let buffer = "";
	for (;;) {
		const { value, done } = await reader.read();
		if (done) return;
		buffer += value;
		let end: number;
		while ((end = buffer.indexOf("\n\n")) >= 0) {
			dispatch(buffer.slice(0, end));
			buffer = buffer.slice(end + 2);
		}
	}
}

function dispatch(frame: string) {
	let event = "message";
	let data = "";
	for (const line of frame.split("\n")) {
		if (line.startsWith("id: ")) lastEventId = line.slice(4);
		else if (line.startsWith("event: ")) event = line.slice(7);
		else if (line.startsWith("data: ")) data += line.slice(6);
	}
	if (!data) return;
	let parsed: unknown;
	try {
		parsed = JSON.parse(data);
	} catch {
		return;
	}
	for (const h of handlers) h(event, parsed);
}
