import { createHmac } from "node:crypto";

// Account Activity payloads as X sends them, and their signature computed here independently
// of the service's own code (lib/webhook-signature.ts), so a wrong implementation fails.

export const TEST_CONSUMER_SECRET = "test-consumer-secret";

export function xSignature(body: string, secret = TEST_CONSUMER_SECRET): string {
	return "sha256=" + createHmac("sha256", secret).update(body).digest("base64");
}

export function dmPayload(opts: {
	forUserId: string;
	eventId: string;
	senderId: string;
	recipientId: string;
	text: string;
	at?: Date;
	users?: Record<string, { screen_name: string; name: string }>;
}) {
	const users: Record<string, unknown> = {};
	for (const [id, u] of Object.entries(opts.users ?? {}))
		users[id] = { id: id, id_str: id, screen_name: u.screen_name, name: u.name, profile_image_url_https: `https://pbs.example/${id}.jpg` };
	return {
		for_user_id: opts.forUserId,
		direct_message_events: [
			{
				type: "message_create",
				id: opts.eventId,
				created_timestamp: String((opts.at ?? new Date()).getTime()),
				message_create: {
					target: { recipient_id: opts.recipientId },
					sender_id: opts.senderId,
					message_data: { text: opts.text, entities: {} },
				},
			},
		],
		users,
	};
}

export function readPayload(opts: { forUserId: string; readerId: string; accountUserId: string; lastReadEventId: string }) {
	return {
		for_user_id: opts.forUserId,
		direct_message_mark_read_events: [
			{
				created_timestamp: String(Date.now()),
				sender_id: opts.readerId,
				target: { recipient_id: opts.accountUserId },
				last_read_event_id: opts.lastReadEventId,
			},
		],
	};
}

export async function postWebhook(baseUrl: string, payload: unknown, opts: { signature?: string | null; raw?: string } = {}) {
	const body = opts.raw ?? JSON.stringify(payload);
	const headers: Record<string, string> = { "Content-Type": "application/json" };
	const signature = opts.signature === undefined ? xSignature(body) : opts.signature;
	if (signature !== null) headers["x-twitter-webhooks-signature"] = signature;
	const res = await fetch(`${baseUrl}/api/v1/mkt-x/webhooks/twitter`, { method: "POST", headers, body });
	const text = await res.text();
	return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}
