import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { ServiceBroker, type ServiceSchema, type BrokerOptions } from "moleculer";
import mongoose from "mongoose";
import { SIDE_POOL } from "../../lib/db.ts";
import { brokerOptions } from "../../moleculer.config.ts";
import { resetConfig } from "../../lib/config.ts";
import { signToken } from "../../lib/auth.ts";
import { loadServiceSchemas } from "../../lib/services.ts";
import type { ServiceOf } from "../../lib/service.ts";

// What integration tests stand on: a database of the test file's own on the run's FerretDB,
// brokers built from the real moleculer.config.ts, and the real gateway on a free port.

export const NATS_URL = process.env.NATS_URL || "nats://127.0.0.1:4222";

/** A service running on `broker`, typed from its schema: `localService<typeof AnalyticsService>(broker, "analytics").drain()`. */
export function localService<Schema>(broker: ServiceBroker, name: string): ServiceOf<Schema> {
	const service = broker.getLocalService(name);
	if (!service) throw new Error(`no service "${name}" runs on ${broker.nodeID}`);
	return service as unknown as ServiceOf<Schema>;
}

/** Points this test file at a fresh database of its own. Call at the top of the file. */
export function useFreshDatabase(label: string): string {
	const base = process.env.TEST_MONGO_BASE;
	if (!base) throw new Error("TEST_MONGO_BASE is unset: run the tests through `npm test` (jest globalSetup)");
	const name = `t_${label.replace(/[^a-z0-9]/gi, "_").slice(0, 30)}_${randomBytes(4).toString("hex")}`;
	process.env.MONGO_URL = `${base}${name}`;
	// Brokers of this file talk over NATS in a namespace of their own: another suite running at
	// the same time (or a local dev node) must not take this file's events and calls.
	process.env.TEST_NAMESPACE = `mkt-x-${name}`;
	process.env.PORT = "0";
	process.env.LOG_LEVEL = process.env.TEST_LOG_LEVEL || "warn";
	resetConfig();
	return name;
}

export interface TestNode {
	broker: ServiceBroker;
	/** Base URL of the gateway on this node (when it runs the api service). */
	url: string;
	stop(): Promise<void>;
}

export interface NodeOptions {
	/** Service names (files in services/) to run on this node; all by default. */
	services?: string[];
	/** Extra schemas, e.g. `{ mixins: [Api], settings: {...} }` overrides, keyed by service name. */
	overrides?: Record<string, Partial<ServiceSchema<Record<string, any>>>>;
	/** More services to run on the node, e.g. one that records broker events for assertions. */
	extraServices?: Partial<ServiceSchema>[];
	transporter?: string | null;
	nodeID?: string;
	broker?: Partial<BrokerOptions>;
}

export async function startNode(opts: NodeOptions = {}): Promise<TestNode> {
	const cfg = resetConfig();
	const broker = new ServiceBroker(
		brokerOptions(cfg, {
			nodeID: opts.nodeID ?? `test-${randomBytes(3).toString("hex")}`,
			namespace: process.env.TEST_NAMESPACE ?? "mkt-x-test",
			transporter: (opts.transporter ?? null) as BrokerOptions["transporter"],
			logger: process.env.TEST_LOG_LEVEL ? { type: "Console", options: { level: process.env.TEST_LOG_LEVEL } } : false,
			skipProcessEventRegistration: true,
			...opts.broker,
		})
	);
	const schemas = await loadServiceSchemas(opts.services ?? []);
	for (const schema of schemas) {
		const override = opts.overrides?.[schema.name];
		broker.createService(override ? { ...override, name: schema.name, mixins: [schema, ...(override.mixins ?? [])] } : schema);
	}
	for (const extra of opts.extraServices ?? []) broker.createService(extra as ServiceSchema);
	await broker.start();
	if (broker.getLocalService("api")) {
		const restActions = schemas.flatMap(s =>
			Object.entries(s.actions ?? {})
				.filter(([, a]) => typeof a === "object" && a && "rest" in a)
				.map(([name]) => `${s.name}.${name}`)
		);
		await waitForAliases(broker, restActions);
	}
	const api = broker.getLocalService("api") as unknown as { server?: Server } | undefined;
	const port = api?.server ? (api.server.address() as AddressInfo).port : 0;
	return { broker, url: `http://127.0.0.1:${port}`, stop: () => broker.stop() };
}

/** Polls `check` until it is true (or throws after `timeoutMs`): for state that settles asynchronously. */
/**
 * One node for the whole test file, on a fresh database of its own: started before the file's
 * tests, stopped (and the database dropped) after them. Its broker and URL are read once started.
 */
export function nodeForFile(label: string, opts: NodeOptions): Pick<TestNode, "broker" | "url"> {
	useFreshDatabase(label);
	let started: TestNode | undefined;
	beforeAll(async () => {
		started = await startNode(opts);
	});
	afterAll(async () => {
		await started?.stop();
		await dropDatabase();
	});
	return {
		get broker() {
			return started!.broker;
		},
		get url() {
			return started!.url;
		},
	};
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = "condition"): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!(await check())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
		await new Promise(r => setTimeout(r, 25));
	}
}

/**
 * Waits until the gateway on `broker` routes the given actions (routes follow service discovery,
 * here or on other nodes), or, with a number, at least that many routes whose path has `pathPart`.
 */
export async function waitForAliases(broker: ServiceBroker, expected: number | string[], pathPart = ""): Promise<void> {
	await waitUntil(
		async () => {
			const aliases = (await broker.call("api.listAliases")) as { fullPath?: string; path: string; actionName?: string }[];
			if (Array.isArray(expected)) {
				const routed = new Set(aliases.map(a => a.actionName));
				return expected.every(name => routed.has(name));
			}
			return aliases.filter(a => (a.fullPath ?? a.path).includes(pathPart)).length >= expected;
		},
		10_000,
		Array.isArray(expected) ? `routes of ${expected.join(", ")}` : `${expected} gateway routes matching ${pathPart}`
	);
}

/** A service that records the broker events it is given, for assertions. */
export function eventRecorder(names: string[]) {
	const seen: { name: string; params: any }[] = [];
	const schema: Partial<ServiceSchema> = {
		name: `recorder-${randomBytes(3).toString("hex")}`,
		events: Object.fromEntries(
			names.map(name => [name, { handler: (ctx: { params: unknown }) => void seen.push({ name, params: ctx.params }) }])
		),
	};
	return { schema, seen, of: (name: string) => seen.filter(e => e.name === name).map(e => e.params) };
}

/** Drops the test file's database (call in afterAll, after the nodes stopped). */
export async function dropDatabase(): Promise<void> {
	const url = process.env.MONGO_URL!;
	const conn = await mongoose.createConnection(url, SIDE_POOL).asPromise();
	await conn.dropDatabase().catch(() => {});
	await conn.close();
}

export function tokenFor(merchantId: string, opts: { userId?: string; roles?: string[]; expiresIn?: number } = {}): string {
	return signToken({ merchantId, userId: opts.userId ?? "user-1", roles: opts.roles }, resetConfig().jwt, opts.expiresIn ?? 3600);
}

export interface ApiResponse<T = any> {
	status: number;
	headers: Headers;
	body: T;
}

/**
 * A small client for the gateway: JSON in, JSON out, the status and headers kept. It asks for
 * English errors (tests assert the checks' own wording); pass `Accept-Language` to test another.
 */
export function client(baseUrl: string, token?: string, base = "/api/v1/mkt-x") {
	async function request<T = any>(
		method: string,
		path: string,
		body?: unknown,
		headers: Record<string, string> = {}
	): Promise<ApiResponse<T>> {
		const res = await fetch(`${baseUrl}${path.startsWith("/health") || path.startsWith("/r/") ? "" : base}${path}`, {
			method,
			headers: {
				"Accept-Language": "en",
				...(token ? { Authorization: `Bearer ${token}` } : {}),
				...(body !== undefined ? { "Content-Type": "application/json" } : {}),
				...headers,
			},
			body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
			redirect: "manual",
		});
		const text = await res.text();
		let parsed: unknown = text;
		try {
			parsed = text ? JSON.parse(text) : null;
		} catch {
			// not JSON (CSV, redirects): keep the text
		}
		return { status: res.status, headers: res.headers, body: parsed as T };
	}
	return {
		request,
		get: <T = any>(path: string, headers?: Record<string, string>) => request<T>("GET", path, undefined, headers),
		post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => request<T>("POST", path, body ?? {}, headers),
		put: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) => request<T>("PUT", path, body ?? {}, headers),
		del: <T = any>(path: string, headers?: Record<string, string>) => request<T>("DELETE", path, undefined, headers),
	};
}
