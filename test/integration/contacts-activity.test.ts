import { randomUUID } from "node:crypto";
import { acquireDb, releaseDb } from "../../lib/db.ts";
import { dropDatabase, useFreshDatabase } from "../helpers/node.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { recordActivity } from "../../services/contacts/inbound.ts";
import { applyContactActivity, type ContactActivity } from "../../services/inbox/tally.ts";
import { activityKeys } from "../../lib/activity-buckets.ts";

// contacts.recordActivity writes a contact's activity figures with update operators, without
// reading the contact first (one read per contact was most of a campaign's database commands).
// Here, on the real engine, the operators leave exactly what the figures computed from the
// stored values are (applyContactActivity), whatever the stored state: fields missing, null,
// earlier or later than the batch's.

useFreshDatabase("contacts_activity");

beforeAll(async () => {
	await acquireDb(process.env.MONGO_URL!);
	await ContactModel.createIndexes();
});
afterAll(async () => {
	await dropDatabase();
	await releaseDb();
});

const T = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 8, 0) + minutes * 60_000);
const FIELDS = [
	"messagesReceived",
	"messagesSent",
	"conversationCount",
	"responseCount",
	"responseTimeTotalSeconds",
	"lastInteractionAt",
	"activityAt",
	"activityKeys",
	"lastInboundAt",
	"firstInteractionAt",
] as const;

type Stored = Partial<Record<(typeof FIELDS)[number], unknown>>;

/** A contact stored raw (no defaults filled), so missing and null fields stay as given. */
async function storeContact(merchantId: string, stored: Stored): Promise<string> {
	const _id = randomUUID();
	await ContactModel.collection.insertOne({
		_id,
		merchantId,
		accountId: "acc-1",
		twitterUserId: _id,
		...stored,
	} as never);
	return _id;
}

const figures = (doc: Record<string, unknown>) =>
	Object.fromEntries(
		FIELDS.map(f => {
			const v = doc[f];
			return [f, v instanceof Date ? v.toISOString() : (v ?? null)];
		})
	);

const stateOf: Record<string, Stored> = {
	"never interacted (figures missing)": {},
	"created by an inbound message (first set, no last yet)": {
		firstInteractionAt: T(5),
		activityAt: T(5),
		activityKeys: activityKeys(T(5)),
		conversationCount: 0,
	},
	"created by hand (explicit nulls and zeros)": {
		messagesReceived: 0,
		messagesSent: 0,
		conversationCount: 0,
		responseCount: 0,
		responseTimeTotalSeconds: 0,
		lastInteractionAt: null,
		lastInboundAt: null,
		firstInteractionAt: null,
		activityAt: T(-60),
		activityKeys: activityKeys(T(-60)),
	},
	"active before the batch": {
		messagesReceived: 3,
		messagesSent: 2,
		conversationCount: 1,
		responseCount: 1,
		responseTimeTotalSeconds: 30,
		lastInteractionAt: T(0),
		lastInboundAt: T(-1),
		firstInteractionAt: T(-30),
		activityAt: T(0),
		activityKeys: activityKeys(T(0)),
	},
	"active after the batch (a later message applied first)": {
		messagesReceived: 3,
		messagesSent: 2,
		conversationCount: 1,
		responseCount: 0,
		responseTimeTotalSeconds: 0,
		lastInteractionAt: T(120),
		lastInboundAt: T(120),
		firstInteractionAt: T(-30),
		activityAt: T(120),
		activityKeys: activityKeys(T(120)),
	},
	"last interaction exactly the batch's": {
		messagesSent: 1,
		lastInteractionAt: T(10),
		firstInteractionAt: T(10),
		activityAt: T(10),
		activityKeys: activityKeys(T(10)),
	},
};

const activities: Record<string, Omit<ContactActivity, "contactId">> = {
	"a campaign message": {
		inc: { messagesReceived: 0, messagesSent: 1, conversationCount: 1, responseCount: 0, responseTimeTotalSeconds: 0 },
		lastInteractionAt: T(10).toISOString(),
		lastInboundAt: null,
		firstInteractionAt: T(10).toISOString(),
	},
	"a customer's messages and a reply": {
		inc: { messagesReceived: 2, messagesSent: 1, conversationCount: 0, responseCount: 1, responseTimeTotalSeconds: 45 },
		lastInteractionAt: T(10).toISOString(),
		lastInboundAt: T(8).toISOString(),
		firstInteractionAt: T(-40).toISOString(),
	},
};

describe("contacts.recordActivity without reading the contacts", () => {
	for (const [stateName, stored] of Object.entries(stateOf))
		for (const [activityName, activity] of Object.entries(activities))
			test(`${activityName}, on a contact ${stateName}: the figures computed from the stored values`, async () => {
				const merchantId = `m-${randomUUID().slice(0, 8)}`;
				const id = await storeContact(merchantId, stored);
				const before = (await ContactModel.collection.findOne({ _id: id } as never))! as Record<string, unknown>;
				const expected = figures({
					...before,
					...applyContactActivity(before as Parameters<typeof applyContactActivity>[0], { ...activity, contactId: id }),
				});
				await recordActivity({ merchantId, updates: [{ ...activity, contactId: id }] });
				const after = (await ContactModel.collection.findOne({ _id: id } as never))!;
				expect(figures(after)).toEqual(expected);
			});

	test("another merchant's contact, or one erased meanwhile, is left alone", async () => {
		const id = await storeContact("m-owner", stateOf["active before the batch"]);
		const before = figures((await ContactModel.collection.findOne({ _id: id } as never))!);
		const activity = activities["a campaign message"];
		await recordActivity({
			merchantId: "m-other",
			updates: [
				{ ...activity, contactId: id },
				{ ...activity, contactId: randomUUID() },
			],
		});
		expect(figures((await ContactModel.collection.findOne({ _id: id } as never))!)).toEqual(before);
		expect(await ContactModel.countDocuments({ merchantId: "m-other" })).toBe(0);
	});
});
