// The outbound webhooks' notion of "now": retries, the 24 h window, disabling and stale claims
// are due on this clock, so a test moves a day forward by setting `clock.now` instead of waiting.
// Workers poll in real time and read this clock. Signature timestamps stay on the wall clock
// (receivers compare them with theirs).

export const clock = {
	now: (): Date => new Date(),
};
