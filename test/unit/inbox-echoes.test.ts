import { ECHO_WINDOW_MS, canStillBeEcho, queueTimeOf, sortCandidates } from "../../services/inbox/echoes.ts";

// Which X-app messages stay candidate echoes of our sends (services/inbox/echoes.ts): judged by
// the queue's time of the batch being applied, not by the clock.

const t0 = Date.UTC(2026, 0, 1, 8);

describe("echo candidates", () => {
	test("the queue's time is the batch's latest row; rows without one count as now", () => {
		expect(queueTimeOf([{ receivedAt: new Date(t0) }, { receivedAt: new Date(t0 + 5000) }, { receivedAt: null }], t0 + 1000)).toBe(
			t0 + 5000
		);
		expect(queueTimeOf([], t0)).toBe(t0);
	});

	test("a message written on X within the window before the queue's time can still be an echo; older, or without a time, not", () => {
		expect(canStillBeEcho(new Date(t0), t0 + ECHO_WINDOW_MS)).toBe(true);
		expect(canStillBeEcho(new Date(t0), t0 + ECHO_WINDOW_MS + 1)).toBe(false);
		expect(canStillBeEcho(new Date(t0 + 60_000), t0)).toBe(true);
		expect(canStillBeEcho(null, t0)).toBe(false);
	});

	test("a candidate a send of the batch names is matched, whatever its age; the others expire past the window", () => {
		const candidates = [
			{ _id: "a", twitterMessageId: "tw-a", sentAt: new Date(t0 - 2 * ECHO_WINDOW_MS) },
			{ _id: "b", twitterMessageId: "tw-b", sentAt: new Date(t0 - 2 * ECHO_WINDOW_MS) },
			{ _id: "c", twitterMessageId: "tw-c", sentAt: new Date(t0 - 1000) },
		];
		const { matched, expired } = sortCandidates(candidates, new Set(["tw-a", "tw-x"]), t0);
		expect(matched.map(c => c._id)).toEqual(["a"]);
		expect(expired.map(c => c._id)).toEqual(["b"]);
	});
});
