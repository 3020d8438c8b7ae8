// The campaigns' notion of "now". Scheduling, quota spill, the reply window and endAt expiry
// all read it, so a test moves time by setting `clock.now` instead of sleeping. Agenda itself
// polls in real time: a job runs when it is due by the wall clock and then reads this clock.

export const clock = {
	now: (): Date => new Date(),
};

/** The wall-clock moment that is `at` on the campaigns' clock (for scheduling an Agenda job). */
export function wallTimeOf(at: Date): Date {
	return new Date(Date.now() + Math.max(0, at.getTime() - clock.now().getTime()));
}
