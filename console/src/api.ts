import { API_BASE, type Endpoint } from "./endpoints.ts";
import { getLang } from "./i18n.ts";
import { session } from "./session.ts";

// The API client: one function for every endpoint of endpoints.ts. Answers are the contract's
// envelope; a failure becomes an ApiFailure carrying the API's own words and field details.

export interface Detail {
	field: string;
	message: string;
}

export class ApiFailure extends Error {
	status: number;
	code: string;
	details: Detail[];
	constructor(status: number, message: string, code: string, details: Detail[]) {
		super(message);
		this.status = status;
		this.code = code;
		this.details = details;
	}
}

export interface Paged<T> {
	data: T[];
	pagination: { page: number; limit: number; total: number; totalPages: number };
}

type Query = Record<string, string | number | boolean | undefined | null>;
interface CallOptions {
	params?: Record<string, string>;
	query?: Query;
	body?: unknown;
}

function urlOf(endpoint: Endpoint, opts: CallOptions): { method: string; url: string } {
	const [method, pattern] = endpoint.split(" ");
	const path = pattern.replace(/:(\w+)/g, (_m, name: string) => {
		const value = opts.params?.[name];
		if (value === undefined) throw new Error(`${endpoint}: missing ${name}`);
		return encodeURIComponent(value);
	});
	const qs = new URLSearchParams();
	for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
	return { method, url: `${API_BASE}${path}${qs.size ? `?${qs}` : ""}` };
}

async function send(endpoint: Endpoint, opts: CallOptions): Promise<Response> {
	const { method, url } = urlOf(endpoint, opts);
	const headers: Record<string, string> = { "Accept-Language": getLang() };
	const token = session()?.token;
	if (token) headers.Authorization = `Bearer ${token}`;
	if (opts.body !== undefined) headers["Content-Type"] = "application/json";
	const res = await fetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) });
	if (!res.ok) throw await failureOf(res);
	return res;
}

async function failureOf(res: Response): Promise<ApiFailure> {
	try {
		const body = (await res.json()) as { error?: string; errorCode?: string; details?: unknown };
		const message = body.error ?? res.statusText;
		// A list of field problems (422), or one object naming the field in the way (a 409 such as
		// FLOW_ACTIVE: {field: "status", status: "active"}), whose problem is the error itself.
		const one = body.details as { field?: unknown } | undefined;
		const details = Array.isArray(body.details)
			? (body.details as Detail[]).filter(d => d && typeof d.field === "string")
			: one && typeof one === "object" && typeof one.field === "string"
				? [{ field: one.field, message }]
				: [];
		return new ApiFailure(res.status, message, body.errorCode ?? "ERROR", details);
	} catch {
		return new ApiFailure(res.status, res.statusText || `HTTP ${res.status}`, "ERROR", []);
	}
}

export async function call<T = any>(endpoint: Endpoint, opts: CallOptions = {}): Promise<T> {
	const res = await send(endpoint, opts);
	return ((await res.json()) as { data: T }).data;
}

export async function list<T = any>(endpoint: Endpoint, opts: CallOptions = {}): Promise<Paged<T>> {
	const res = await send(endpoint, opts);
	return (await res.json()) as Paged<T>;
}

/** For CSV and other non-JSON answers. */
export async function raw(endpoint: Endpoint, opts: CallOptions = {}): Promise<Blob> {
	return (await send(endpoint, opts)).blob();
}
