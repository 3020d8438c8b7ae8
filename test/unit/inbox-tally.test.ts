import { applyContactActivity, ContactTally, ConversationState } from "../../services/inbox/tally.ts";

const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 9, minutes));
const conversation = (fields: Partial<ConstructorParameters<typeof ConversationState>[0]> = {}) =>
	new ConversationState({
		_id: "c1",
		messageCount: 0,
		lastMessageAt: null,
		lastInboundAt: null,
		awaitingReplySince: null,
		firstResponseAt: null,
		needsHuman: false,
		...fields,
	});

describe("ConversationState: what messages do to a conversation's figures", () => {
	test("the customer's first message starts the reply clock; a reply stops it and says how long it took", () => {
		const c = conversation();
		expect(c.add("inbound", at(0))).toBeNull();
		expect(c.firstMessage).toBe(true);
		expect(c.add("inbound", at(3))).toBeNull();
		expect(c.awaitingReplySince).toEqual(at(0));
		expect(c.add("reply", at(5))).toBe(300);
		expect(c.firstMessage).toBe(false);
		expect(c.update()!.update.$set).toMatchObject({
			messageCount: 3,
			lastMessageAt: at(5),
			lastInboundAt: at(3),
			awaitingReplySince: null,
			firstResponseAt: at(5),
		});
	});

	test("a campaign or flow message counts but answers nobody; an agent's reply clears needsHuman, the bot's does not", () => {
		const c = conversation({ messageCount: 4, needsHuman: true, awaitingReplySince: at(0) });
		expect(c.add("broadcast", at(1))).toBeNull();
		expect(c.awaitingReplySince).toEqual(at(0));
		expect(c.add("reply", at(2), false)).toBe(120);
		expect(c.needsHuman).toBe(true);
		c.add("inbound", at(3));
		c.add("reply", at(4), true);
		expect(c.needsHuman).toBe(false);
		expect(c.update()!.update.$set.messageCount).toBe(8);
	});

	test("a message older than the last one never moves lastMessageAt back", () => {
		const c = conversation({ messageCount: 1, lastMessageAt: at(10), lastInboundAt: at(10) });
		c.add("inbound", at(2));
		expect(c.update()!.update.$set).toMatchObject({ lastMessageAt: at(10), lastInboundAt: at(10), messageCount: 2 });
		// the inbox's page buckets follow the last message (lib/activity-buckets.ts)
		expect(c.update()!.update.$set).toMatchObject({ activityAt: at(10), activityKeys: ["d2026-01-01", "h2026-01-01T09"] });
	});

	test("an untouched conversation writes nothing", () => {
		expect(conversation().update()).toBeNull();
	});
});

describe("ContactTally and applyContactActivity", () => {
	test("counts by direction, conversations at their first message, response times, and the interaction window", () => {
		const t = new ContactTally("k1");
		t.add("inbound", at(5), true, null);
		t.add("outbound", at(7), false, 120);
		t.add("inbound", at(1), false, null);
		const activity = t.toUpdate()!;
		expect(activity.inc).toEqual({
			messagesReceived: 2,
			messagesSent: 1,
			conversationCount: 1,
			responseCount: 1,
			responseTimeTotalSeconds: 120,
		});
		const set = applyContactActivity(
			{
				messagesReceived: 10,
				messagesSent: 4,
				conversationCount: 2,
				responseCount: 3,
				responseTimeTotalSeconds: 600,
				lastInteractionAt: at(6),
				lastInboundAt: null,
				firstInteractionAt: at(3),
			},
			activity
		);
		expect(set).toEqual({
			messagesReceived: 12,
			messagesSent: 5,
			conversationCount: 3,
			responseCount: 4,
			responseTimeTotalSeconds: 720,
			lastInteractionAt: at(7),
			activityAt: at(7),
			activityKeys: ["d2026-01-01", "h2026-01-01T09"],
			lastInboundAt: at(5),
			firstInteractionAt: at(1),
		});
	});

	test("a contact with no activity in the batch writes nothing", () => {
		expect(new ContactTally("k2").toUpdate()).toBeNull();
	});
});
