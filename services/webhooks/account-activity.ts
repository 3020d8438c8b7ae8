// X's Account Activity payloads, read into the few shapes the inbox needs. Pure functions:
// anything unexpected in a payload is skipped, never thrown on.

export interface XUserProfile {
	id: string;
	username: string;
	displayName: string;
	profileImageUrl: string | null;
}

export interface DirectMessageEvent {
	eventId: string;
	createdAt: Date;
	senderId: string;
	recipientId: string;
	text: string;
	mediaUrl: string | null;
}

export interface ReadEvent {
	readerId: string;
	counterpartId: string;
	lastReadEventId: string;
	at: Date;
}

export interface ActivityBatch {
	forUserId: string | null;
	messages: DirectMessageEvent[];
	reads: ReadEvent[];
	users: Map<string, XUserProfile>;
	/** Events counted against the webhook rate limit (typing events included). */
	eventCount: number;
}

type Json = Record<string, any>;
const str = (v: unknown): string | null => (typeof v === "string" && v.length > 0 ? v : typeof v === "number" ? String(v) : null);
const time = (v: unknown): Date => {
	const n = Number(v);
	return Number.isFinite(n) && n > 0 ? new Date(n) : typeof v === "string" && !Number.isNaN(Date.parse(v)) ? new Date(v) : new Date();
};

function readUsers(users: unknown, into: Map<string, XUserProfile>) {
	if (!users || typeof users !== "object") return;
	for (const [key, raw] of Object.entries(users as Json)) {
		if (!raw || typeof raw !== "object") continue;
		const id = str(raw.id_str) ?? str(raw.id) ?? key;
		into.set(id, {
			id,
			username: str(raw.screen_name) ?? str(raw.username) ?? "",
			displayName: str(raw.name) ?? "",
			profileImageUrl: str(raw.profile_image_url_https) ?? str(raw.profile_image_url) ?? null,
		});
	}
}

function readMessageCreate(e: Json): DirectMessageEvent | null {
	const mc = e.message_create;
	const eventId = str(e.id);
	if (e.type !== "message_create" || !mc || !eventId) return null;
	const senderId = str(mc.sender_id);
	const recipientId = str(mc.target?.recipient_id);
	if (!senderId || !recipientId) return null;
	const media = mc.message_data?.attachment?.media;
	return {
		eventId,
		createdAt: time(e.created_timestamp),
		senderId,
		recipientId,
		text: typeof mc.message_data?.text === "string" ? mc.message_data.text : "",
		mediaUrl: str(media?.media_url_https) ?? null,
	};
}

/** X's newer activity events (`dm.received` and the like), where they carry what we need. */
function readActivityEvent(e: Json, batch: ActivityBatch) {
	const type = e.event_type ?? e.type;
	const p = e.payload ?? e.data ?? {};
	if (type === "dm.received" || type === "dm.sent") {
		const eventId = str(p.dm_event_id ?? p.id ?? p.event_id);
		const senderId = str(p.sender_id);
		const recipientId = str(p.recipient_id) ?? (type === "dm.received" ? batch.forUserId : null);
		if (eventId && senderId && recipientId) {
			batch.messages.push({
				eventId,
				createdAt: time(p.created_at),
				senderId,
				recipientId,
				text: typeof p.text === "string" ? p.text : "",
				mediaUrl: null,
			});
		}
	} else if (type === "dm.read") {
		const readerId = str(p.sender_id ?? p.reader_id);
		const lastReadEventId = str(p.last_read_event_id ?? p.dm_event_id);
		const counterpartId = str(p.recipient_id) ?? batch.forUserId;
		if (readerId && lastReadEventId && counterpartId)
			batch.reads.push({ readerId, counterpartId, lastReadEventId, at: time(p.created_at) });
	}
}

export function readActivity(payload: unknown): ActivityBatch {
	const body = (payload && typeof payload === "object" ? payload : {}) as Json;
	const batch: ActivityBatch = { forUserId: str(body.for_user_id), messages: [], reads: [], users: new Map(), eventCount: 0 };
	readUsers(body.users, batch.users);
	for (const e of Array.isArray(body.direct_message_events) ? body.direct_message_events : []) {
		batch.eventCount++;
		const m = e && typeof e === "object" ? readMessageCreate(e) : null;
		if (m) batch.messages.push(m);
	}
	for (const e of Array.isArray(body.direct_message_mark_read_events) ? body.direct_message_mark_read_events : []) {
		batch.eventCount++;
		const readerId = str(e?.sender_id);
		const counterpartId = str(e?.target?.recipient_id);
		const lastReadEventId = str(e?.last_read_event_id);
		if (readerId && counterpartId && lastReadEventId)
			batch.reads.push({ readerId, counterpartId, lastReadEventId, at: time(e.created_timestamp) });
	}
	if (Array.isArray(body.direct_message_indicate_typing_events)) batch.eventCount += body.direct_message_indicate_typing_events.length;
	const newer = Array.isArray(body.events) ? body.events : body.event_type ? [body] : [];
	for (const e of newer) {
		batch.eventCount++;
		if (e && typeof e === "object") readActivityEvent(e, batch);
	}
	return batch;
}
