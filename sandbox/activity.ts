import { createHmac } from "node:crypto";

// X's Account Activity API payloads, as X delivers them to a webhook, and the signature X puts
// on each delivery. The contract's "Sự Kiện Webhook" shows a trimmed direct_message_events
// item; these carry the fields X sends (for_user_id, users, target, entities) as well.

export interface ActivityUser {
	id: string;
	username?: string;
	name?: string;
	profileImageUrl?: string | null;
}

export interface AccountActivityPayload {
	for_user_id: string;
	direct_message_events?: DirectMessageEvent[];
	direct_message_mark_read_events?: unknown[];
	direct_message_indicate_typing_events?: unknown[];
	users?: Record<string, unknown>;
	[key: string]: unknown;
}

export interface DirectMessageEvent {
	type: "message_create";
	id: string;
	created_timestamp: string;
	message_create: {
		target: { recipient_id: string };
		sender_id: string;
		source_app_id?: string;
		message_data: { text: string; entities: Record<string, unknown[]>; attachment?: unknown };
	};
}

let lastId = 0n;
/** Increasing ids shaped like X's (a millisecond timestamp in the high bits). */
export function snowflake(nowMs = Date.now()): string {
	let id = (BigInt(nowMs) - 1288834974657n) << 22n;
	if (id <= lastId) id = lastId + 1n;
	lastId = id;
	return id.toString();
}

/** The `users` entry X includes for each user an event mentions (v1.1 user object, trimmed). */
export function activityUser(user: ActivityUser, createdMs = Date.now()): Record<string, unknown> {
	const username = user.username ?? `user${user.id}`;
	return {
		id: user.id,
		created_timestamp: String(createdMs),
		name: user.name ?? username,
		screen_name: username,
		protected: false,
		verified: false,
		followers_count: 0,
		friends_count: 0,
		statuses_count: 0,
		profile_image_url: user.profileImageUrl ?? null,
		profile_image_url_https: user.profileImageUrl ?? null,
	};
}

/**
 * One DM as X delivers it to `forUserId`'s webhook. An inbound DM has `from` the customer and
 * `to` the account; a DM the account sent (from X's app or through the API) is delivered to the
 * account's webhook too, with `from` the account.
 */
export function buildDirectMessageEvent(input: {
	forUserId: string;
	from: ActivityUser;
	to: ActivityUser;
	text: string;
	id?: string;
	createdAt?: Date;
}): AccountActivityPayload {
	const at = input.createdAt ?? new Date();
	return {
		for_user_id: input.forUserId,
		direct_message_events: [
			{
				type: "message_create",
				id: input.id ?? snowflake(at.getTime()),
				created_timestamp: String(at.getTime()),
				message_create: {
					target: { recipient_id: input.to.id },
					sender_id: input.from.id,
					message_data: { text: input.text, entities: { hashtags: [], symbols: [], user_mentions: [], urls: [] } },
				},
			},
		],
		users: { [input.from.id]: activityUser(input.from), [input.to.id]: activityUser(input.to) },
	};
}

/** `reader` read the conversation with `forUserId` up to `lastReadEventId`. */
export function buildReadEvent(input: {
	forUserId: string;
	reader: ActivityUser;
	lastReadEventId: string;
	at?: Date;
}): AccountActivityPayload {
	const at = input.at ?? new Date();
	return {
		for_user_id: input.forUserId,
		direct_message_mark_read_events: [
			{
				created_timestamp: String(at.getTime()),
				sender_id: input.reader.id,
				target: { recipient_id: input.forUserId },
				last_read_event_id: input.lastReadEventId,
			},
		],
		users: { [input.reader.id]: activityUser(input.reader) },
	};
}

/** `typist` is typing to `forUserId`. */
export function buildTypingEvent(input: { forUserId: string; typist: ActivityUser; at?: Date }): AccountActivityPayload {
	const at = input.at ?? new Date();
	return {
		for_user_id: input.forUserId,
		direct_message_indicate_typing_events: [
			{ created_timestamp: String(at.getTime()), sender_id: input.typist.id, target: { recipient_id: input.forUserId } },
		],
		users: { [input.typist.id]: activityUser(input.typist) },
	};
}

/** X's `x-twitter-webhooks-signature`: "sha256=" + base64(HMAC-SHA256(consumer secret, raw body)). */
export function webhookSignature(consumerSecret: string, rawBody: string | Buffer): string {
	return `sha256=${createHmac("sha256", consumerSecret).update(rawBody).digest("base64")}`;
}

/** X's answer to a CRC challenge: the same HMAC over the crc_token. */
export function crcResponseToken(consumerSecret: string, crcToken: string): string {
	return webhookSignature(consumerSecret, crcToken);
}
