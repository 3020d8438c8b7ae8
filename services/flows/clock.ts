// The flows' notion of "now". Waits, delays and rate-limit retries are due on this clock, so a
// test fast-forwards a 24-hour wait by moving `clock.now` and calling `flows.resumeDue`,
// instead of sleeping. Agenda polls in real time: its job runs when due by the wall clock and
// then reads this clock (a job that finds its run not yet due does nothing).

export const clock = {
	now: (): Date => new Date(),
};

/** The wall-clock moment that is `at` on the flows' clock (for scheduling an Agenda job). */
export function wallTimeOf(at: Date): Date {
	return new Date(Date.now() + Math.max(0, at.getTime() - clock.now().getTime()));
}
