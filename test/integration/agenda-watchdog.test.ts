import { ServiceBroker, type Service } from "moleculer";
import type { Job } from "agenda";
import { dropDatabase, useFreshDatabase, waitUntil } from "../helpers/node.ts";
import { DbMixin } from "../../mixins/db.mixin.ts";
import { AgendaMixin } from "../../mixins/agenda.mixin.ts";

// Agenda arms a watchdog timer of half the lock lifetime for every job run and never clears it
// (lib/agenda-watchdog.ts). Once the runs are over, no such timer may keep the process alive: it
// kept jest running for minutes after the last suite.

useFreshDatabase("agenda_watchdog");

afterAll(async () => {
	await dropDatabase();
});

const LOCK_LIFETIME_MS = 10 * 60_000;

test("job runs leave no referenced watchdog timer behind", async () => {
	const ran: number[] = [];
	const broker = new ServiceBroker({ nodeID: "watchdog-probe", logger: false, transporter: null, skipProcessEventRegistration: true });
	const service = broker.createService({
		name: "watchdog-probe",
		mixins: [
			DbMixin([]),
			AgendaMixin({
				processEveryMs: 200,
				jobs: {
					probe: { lockLifetimeMs: LOCK_LIFETIME_MS, handler: async (job: Job) => void ran.push((job.attrs.data as { n: number }).n) },
				},
			}),
		],
	}) as Service & {
		agendaStarting: Promise<void> | null;
		scheduleJob(name: string, when: Date, data: Record<string, unknown>): Promise<unknown>;
	};

	// Every timer of the watchdog's length, as Agenda asks for it.
	const watchdogs: NodeJS.Timeout[] = [];
	const realSetTimeout = globalThis.setTimeout;
	globalThis.setTimeout = ((fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
		const timer = realSetTimeout(fn, ms, ...args);
		if (ms === LOCK_LIFETIME_MS / 2) watchdogs.push(timer);
		return timer;
	}) as typeof setTimeout;
	try {
		await broker.start();
		await waitUntil(() => service.agendaStarting !== null, 10_000, "Agenda starting");
		await service.agendaStarting;
		for (let n = 0; n < 5; n++) await service.scheduleJob("probe", new Date(), { n });
		await waitUntil(() => ran.length === 5, 20_000, "5 job runs");
		await broker.stop();
	} finally {
		globalThis.setTimeout = realSetTimeout;
	}

	expect(ran.sort()).toEqual([0, 1, 2, 3, 4]);
	expect(watchdogs).toHaveLength(5);
	expect(watchdogs.filter(timer => timer.hasRef()).length).toBe(0);
});
