import type { ServiceSchema, Service } from "moleculer";
import mongoose from "mongoose";
import { Agenda, InMemoryNotificationChannel, type Job } from "agenda";
import { MongoBackend } from "@agendajs/mongo-backend";
import { releaseWatchdogTimers } from "../lib/agenda-watchdog.ts";

// Jobs are defined by the service that owns them, through this mixin. Agenda starts processing
// once the whole broker has started (a job may call any service) and drains on stop (running
// jobs finish; none is abandoned mid-way). A job handler calls actions; it never holds the only
// copy of state in memory. Agenda's lock is an update, which FerretDB 1.x does not make atomic,
// so two nodes may occasionally run the same occurrence: every handler is idempotent.

export interface JobDefinition {
	handler: (this: Service & Record<string, any>, job: Job) => Promise<void>;
	concurrency?: number;
	/** Recurring: Agenda interval ("30 seconds") or cron; the job is created once per name. */
	every?: string;
	lockLifetimeMs?: number;
}

export interface AgendaOptions {
	jobs: Record<string, JobDefinition>;
	/** How often this node polls for due jobs. */
	processEveryMs?: number;
	/**
	 * A job this node schedules to run now (or before its next poll) starts at once on this node,
	 * without waiting for the poll (Agenda's in-process notification channel). Other nodes still
	 * find due jobs by polling.
	 */
	runLocalJobsAtOnce?: boolean;
}

export const AGENDA_COLLECTION = "agenda_jobs";

/** The method the mixin gives a service, for its `defineService<AgendaMethods & ...>()`. */
export interface AgendaMethods {
	/** Schedules `name` to run at `when` with `data` (the job's whole state). */
	scheduleJob(name: string, when: Date, data: Record<string, unknown>): Promise<unknown>;
}

export function AgendaMixin(opts: AgendaOptions): Partial<ServiceSchema> {
	return {
		created() {
			this.agenda = null as Agenda | null;
			this.agendaStarting = null as Promise<void> | null;
		},
		events: {
			"$broker.started"(this: Service & { agendaStarting: Promise<void> | null; startAgenda(): Promise<void> }) {
				// Kept, so that a stop arriving while Agenda is still starting waits for it and then
				// stops it (otherwise its poll timer would outlive the broker).
				this.agendaStarting = this.startAgenda();
				return this.agendaStarting;
			},
		},
		methods: {
			async startAgenda(this: Service & { agenda: Agenda | null }) {
				const db = mongoose.connection.db;
				if (!db) throw new Error("AgendaMixin needs DbMixin first in the mixin list");
				const agenda = new Agenda({
					backend: new MongoBackend({ mongo: db, collection: AGENDA_COLLECTION }),
					name: `${this.broker.nodeID}:${this.name}`,
					processEvery: opts.processEveryMs ?? 1000,
					removeOnComplete: true,
					...(opts.runLocalJobsAtOnce ? { notificationChannel: new InMemoryNotificationChannel() } : {}),
				});
				for (const [name, def] of Object.entries(opts.jobs)) {
					agenda.define(name, (job: Job) => def.handler.call(this, job), {
						concurrency: def.concurrency ?? 5,
						lockLifetime: def.lockLifetimeMs ?? 5 * 60_000,
					});
				}
				agenda.on("error", (err: Error) => this.logger.error("agenda error:", err.message));
				if ((this as unknown as { agendaStopped?: boolean }).agendaStopped) return; // stopped before it began
				this.agenda = agenda;
				await agenda.start();
				releaseWatchdogTimers(agenda);
				for (const [name, def] of Object.entries(opts.jobs)) if (def.every) await agenda.every(def.every, name);
			},
			/** Schedules `name` to run at `when` with `data` (the job's whole state). */
			async scheduleJob(name: string, when: Date, data: Record<string, unknown>) {
				if (!this.agenda) throw new Error("Agenda is not started yet");
				return this.agenda.schedule(when, name, data);
			},
		},
		async stopped() {
			this.agendaStopped = true;
			await this.agendaStarting?.catch(() => {});
			if (this.agenda) {
				await this.agenda.drain(30_000).catch(() => this.agenda?.stop());
				this.agenda = null;
			}
		},
	};
}
