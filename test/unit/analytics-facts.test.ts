import {
	campaignFacts,
	contactFacts,
	conversationFacts,
	firstResponseFact,
	messageFacts,
	originKind,
	sameFact,
	type MessageLike,
} from "../../services/analytics/facts.ts";
import { countDay, countQuarter, sameDay, totalsRowOf } from "../../services/analytics/cells.ts";
import { dailySeries, sumRange, breakdown, type DetailRow, type TotalRow } from "../../services/analytics/read.ts";
import { quarterOf } from "../../services/analytics/buckets.ts";
import { parsePeriod, type Period } from "../../services/analytics/period.ts";

const M = "m-1";
const base = { merchantId: M, accountId: "a-1", conversationId: "v-1", contactId: "c-1" };
const msg = (fields: Partial<MessageLike>): MessageLike => ({
	_id: "msg-1",
	...base,
	direction: "outbound",
	status: "sent",
	origin: "agent",
	sentAt: new Date("2026-01-17T23:30:00Z"),
	createdAt: new Date("2026-01-17T23:29:59Z"),
	...fields,
});
const present = (slots: Record<string, unknown>) =>
	Object.entries(slots)
		.filter(([, f]) => f)
		.map(([id]) => id);

describe("facts of a message", () => {
	test("an inbound message is received, in the quarter of its time", () => {
		const slots = messageFacts("msg-1", msg({ direction: "inbound", status: "received", origin: null }));
		expect(present(slots)).toEqual(["in:msg-1"]);
		expect(slots["in:msg-1"]).toMatchObject({
			type: "in",
			quarter: quarterOf(new Date("2026-01-17T23:30:00Z")),
			contactId: "c-1",
			dims: [],
		});
	});

	test("a reply is sent by its origin and carries its response time", () => {
		const slots = messageFacts("msg-1", msg({ origin: "bot", responseSeconds: 225 }));
		expect(present(slots)).toEqual(["out:msg-1", "resp:msg-1"]);
		expect(slots["resp:msg-1"]).toMatchObject({ value: 225, dims: ["origin:bot"] });
	});

	test("a campaign message counts for its campaign; read adds a read fact at the read time", () => {
		const slots = messageFacts("msg-1", msg({ origin: "campaign:cmp-9", status: "read", readAt: new Date("2026-01-18T02:00:00Z") }));
		expect(present(slots)).toEqual(["out:msg-1", "read:msg-1"]);
		expect(slots["out:msg-1"]!.dims).toEqual(["campaign:cmp-9", "origin:campaign"]);
		expect(slots["read:msg-1"]!.quarter).toBe(quarterOf(new Date("2026-01-18T02:00:00Z")));
	});

	test.each(["pending", "unknown"])("a %s send counts for nothing yet", status => {
		expect(present(messageFacts("msg-1", msg({ status, sentAt: null })))).toEqual([]);
	});

	test("a failed send is a failure at the time it was tried", () => {
		const slots = messageFacts("msg-1", msg({ status: "failed", sentAt: null, origin: "campaign:cmp-9" }));
		expect(present(slots)).toEqual(["fail:msg-1"]);
		expect(slots["fail:msg-1"]!.quarter).toBe(quarterOf(new Date("2026-01-17T23:29:59Z")));
	});

	test("a missing message (erased, or X's echo of our send) empties its slots", () => {
		expect(messageFacts("gone", null)).toEqual({
			"in:gone": null,
			"out:gone": null,
			"resp:gone": null,
			"read:gone": null,
			"fail:gone": null,
		});
	});

	test("origins are grouped in a few kinds", () => {
		expect(["agent", null, "bot", "x_app", "flow:run-1", "campaign:c", "weird"].map(originKind)).toEqual([
			"agent",
			"agent",
			"bot",
			"x_app",
			"flow",
			"campaign",
			"other",
		]);
	});
});

describe("facts of a conversation", () => {
	const conv = {
		_id: "v-1",
		merchantId: M,
		accountId: "a-1",
		contactId: "c-1",
		status: "closed",
		assignedToUserId: "agent-7",
		startedAt: new Date("2026-01-17T10:00:00Z"),
		firstResponseAt: new Date("2026-01-17T10:03:45Z"),
		closedAt: new Date("2026-01-17T11:00:00Z"),
		escalatedAt: null,
	};

	test("opened, closed with its resolution time and assignee", () => {
		const slots = conversationFacts("v-1", conv);
		expect(present(slots)).toEqual(["conv:v-1", "close:v-1"]);
		expect(slots["close:v-1"]).toMatchObject({ value: 3600, dims: ["assignee:agent-7"] });
	});

	test("the first response is the reply sent at firstResponseAt; the smaller id wins a tie", () => {
		const at = new Date("2026-01-17T10:03:45Z");
		const a = msg({ _id: "b-reply", sentAt: at, responseSeconds: 225, origin: "bot" });
		const b = msg({ _id: "a-reply", sentAt: at, responseSeconds: 225, origin: "agent" });
		const later = msg({ _id: "0-later", sentAt: new Date("2026-01-17T10:30:00Z"), responseSeconds: 10 });
		const fact = firstResponseFact(conv, [a, b, later]);
		expect(fact).toMatchObject({ _id: "first:v-1", ref: "a-reply", value: 225, dims: ["assignee:agent-7", "origin:agent"] });
		expect(firstResponseFact(conv, [later])).toBeNull();
		expect(firstResponseFact({ ...conv, firstResponseAt: null }, [a])).toBeNull();
	});
});

describe("facts of a contact and a campaign", () => {
	test("a contact is new by source and its tags; opted out only while it still is", () => {
		const c = {
			_id: "c-1",
			merchantId: M,
			accountId: "a-1",
			source: "manual",
			tags: ["vip", "b"],
			createdAt: new Date("2026-01-10T00:00:00Z"),
			optedOut: true,
			optedOutAt: new Date("2026-01-12T00:00:00Z"),
		};
		const slots = contactFacts("c-1", c);
		expect(slots["contact:c-1"]!.dims).toEqual(["source:manual", "tag:b", "tag:vip"]);
		expect(present(slots)).toEqual(["contact:c-1", "optout:c-1"]);
		expect(present(contactFacts("c-1", { ...c, optedOut: false }))).toEqual(["contact:c-1"]);
	});

	test("a contact is new at its first interaction when the inbox stored it later, else at its creation", () => {
		const base = { _id: "c-2", merchantId: M, accountId: "a-1", createdAt: new Date("2026-01-18T02:00:00Z") };
		expect(contactFacts("c-2", { ...base, firstInteractionAt: new Date("2026-01-17T23:30:00Z") })["contact:c-2"]!.quarter).toBe(
			quarterOf(new Date("2026-01-17T23:30:00Z"))
		);
		expect(contactFacts("c-2", { ...base, firstInteractionAt: new Date("2026-03-01T00:00:00Z") })["contact:c-2"]!.quarter).toBe(
			quarterOf(base.createdAt)
		);
	});

	test("a completed campaign without an account counts under no account", () => {
		const slots = campaignFacts({ merchantId: M, campaignId: "cmp-1", completedAt: "2026-01-18T05:00:00Z" });
		expect(slots["campaign:m-1:cmp-1"]).toMatchObject({ accountId: "", dims: ["campaign:cmp-1"] });
	});

	test("sameFact compares every counted field", () => {
		const f = messageFacts("msg-1", msg({}))["out:msg-1"];
		expect(sameFact(f, { ...f!, dims: [...f!.dims] })).toBe(true);
		expect(sameFact(f, { ...f!, quarter: f!.quarter + 1 })).toBe(false);
		expect(sameFact(null, null)).toBe(true);
		expect(sameFact(f, null)).toBe(false);
	});
});

describe("counting and reading back", () => {
	const period = (s: string, e: string, tz = "Asia/Ho_Chi_Minh"): Period =>
		(parsePeriod({ startDate: s, endDate: e, timezone: tz }) as { period: Period }).period;

	test("a quarter counts facts, values and breakdowns; a day lists them per quarter", () => {
		const q = countQuarter([
			{ dims: ["origin:bot"], value: 100 },
			{ dims: ["origin:agent"], value: 20 },
			{ dims: ["origin:bot"], value: 5 },
		]);
		expect(q).toEqual({
			n: 3,
			s: 125,
			cells: [
				{ k: "origin:agent", n: 1, s: 20 },
				{ k: "origin:bot", n: 2, s: 105 },
			],
		});
		const day = countDay([
			{ q: 94, ...q },
			{ q: 3, n: 1, s: 0, cells: [] },
		]);
		expect(day.n).toBe(4);
		expect(
			totalsRowOf([
				{ type: "resp", ...day },
				{ type: "in", n: 0, s: 0, cells: [] },
			])
		).toEqual({ totals: '{"resp":{"n":4,"s":125}}', quarters: '{"resp":[3,1,0,94,3,125]}' });
		expect(totalsRowOf([{ type: "in", n: 0, s: 0, cells: [] }])).toBeNull();
		expect(day.cells.filter(c => c.k === "").map(c => c.q)).toEqual([3, 94]);
		expect(sameDay({ n: day.n, s: day.s, cells: day.cells.map(c => ({ ...c })) }, day)).toBe(true);
		expect(sameDay(null, countDay([]))).toBe(true);
	});

	// One UTC day (2026-01-17) with 2 received messages at 10:00 UTC and 3 at 23:30 UTC.
	const utcDay = Date.parse("2026-01-17T00:00:00Z") / 86_400_000;
	const q10 = 40;
	const q2330 = 94;
	const detail: DetailRow = {
		accountId: "a-1",
		type: "in",
		day: utcDay,
		n: 5,
		s: 0,
		cells: [
			{ k: "", q: q10, n: 2, s: 0 },
			{ k: "", q: q2330, n: 3, s: 0 },
			{ k: "origin:x", q: q2330, n: 3, s: 0 },
		],
	};

	test("per-day series put 23:30 UTC on the next day in Asia/Ho_Chi_Minh and on the same day in UTC", () => {
		expect(dailySeries([detail], period("2026-01-17", "2026-01-18"), "in").map(d => d.n)).toEqual([2, 3]);
		expect(dailySeries([detail], period("2026-01-17", "2026-01-18", "UTC"), "in").map(d => d.n)).toEqual([5, 0]);
		expect(breakdown([detail], period("2026-01-18", "2026-01-18"), "in", "origin:")).toEqual(new Map([["x", { n: 3, s: 0 }]]));
	});

	test("range sums take whole days from their totals and cut days from their quarters", () => {
		const totals: TotalRow[] = [
			{ accountId: "a-1", day: utcDay, t: { in: { n: 5, s: 0 } }, quarters: JSON.stringify({ in: [q10, 2, 0, q2330, 3, 0] }) },
		];
		const p = period("2026-01-18", "2026-01-18");
		expect(sumRange(totals, "in", p.bounds[0], p.bounds[1]).n).toBe(3);
		expect(sumRange(totals, "in", Date.parse("2026-01-17T00:00:00Z"), Date.parse("2026-01-18T00:00:00Z")).n).toBe(5);
		expect(sumRange(totals, "in", -Infinity, p.bounds[0]).n).toBe(2);
		expect(sumRange(totals, "out", -Infinity, Infinity).n).toBe(0);
	});
});
