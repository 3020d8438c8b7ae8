import type { BrokerOptions, Errors } from "moleculer";
import { config, type Config } from "./lib/config.ts";
import { AjvValidator } from "./lib/validator.ts";

/**
 * Broker settings, driven by the environment (lib/config.ts). Tests build their brokers from
 * the same function with a few overrides, so what is tested is what runs.
 */
export function brokerOptions(cfg: Config = config(), overrides: Partial<BrokerOptions> = {}): BrokerOptions {
	return {
		namespace: cfg.namespace,
		nodeID: cfg.nodeID,
		// Unset TRANSPORTER: one local node. Set (nats://host:4222): nodes find each other over NATS.
		transporter: cfg.transporter as BrokerOptions["transporter"],
		logger: { type: "Console", options: { level: cfg.logLevel, formatter: "short", colors: false } },
		logLevel: cfg.logLevel,

		// Moleculer waits forever by default; a call to a node that died would hang until the
		// heartbeat timeout. Ten seconds is well above any action's normal time.
		requestTimeout: cfg.requestTimeoutMs,
		// Retry only what says it is retryable, and never a timeout: the first attempt may still
		// be running (a DM being sent), and the callee's own idempotency is the guard, not luck.
		retryPolicy: {
			enabled: true,
			retries: 3,
			delay: 100,
			maxDelay: 1000,
			factor: 2,
			check: (err: Error) => Boolean((err as Errors.MoleculerError).retryable) && err.name !== "RequestTimeoutError",
		},
		circuitBreaker: {
			enabled: true,
			threshold: 0.5,
			minRequestCount: 20,
			windowTime: 60,
			halfOpenTime: 10_000,
			// A timeout is load, not a broken service: the caller tries later (queues retry their
			// batches); opening the breaker on it would refuse everyone for halfOpenTime. So is an
			// OUTCOME_UNKNOWN of a change queued for its writer and not applied within the wait (a
			// backlog ahead of it: docs/ingest.md).
			check: (err: Error) =>
				((err as Errors.MoleculerError).code ?? 500) >= 500 &&
				err.name !== "RequestTimeoutError" &&
				(err as Errors.MoleculerError).type !== "OUTCOME_UNKNOWN",
		},
		// Finish in-flight requests on SIGTERM before the services stop.
		tracking: { enabled: true, shutdownTimeout: 10_000 },

		metrics: {
			enabled: cfg.metrics.enabled,
			reporter: { type: "Prometheus", options: { port: cfg.metrics.port, path: "/metrics" } },
		},
		tracing: { enabled: cfg.tracingEnabled, exporter: { type: "Console" } },

		validator: new AjvValidator({}),
		...overrides,
	};
}

export default brokerOptions();
