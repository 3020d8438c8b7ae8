// One-off measurement (not a scenario): a contact's tag edit (contacts.addTags' $addToSet) at the
// same moment as the inbox writer's contacts.recordActivity on the same contact, on FerretDB.
import { randomUUID } from "node:crypto";
import { startDatabase } from "./env.ts";
import { acquireDb, closeDb } from "../lib/db.ts";
import { ContactModel } from "../models/contact.model.ts";
import { recordActivity } from "../services/contacts/inbound.ts";

const db = await startDatabase();
await acquireDb(`${db.url.replace(/\/[^/]*$/, "/")}contacts_race`);
const PAIRS = 30;
let lostTags = 0;
let lostFigures = 0;
for (let i = 0; i < PAIRS; i++) {
	const merchantId = "m";
	const c = await ContactModel.create({ merchantId, accountId: "a", twitterUserId: randomUUID(), messagesReceived: 0 });
	const at = new Date().toISOString();
	await Promise.all([
		ContactModel.updateOne({ _id: c._id, merchantId }, { $addToSet: { tags: { $each: ["vip"] } } }),
		recordActivity({
			merchantId,
			updates: [
				{
					contactId: c._id as string,
					inc: { messagesReceived: 1, messagesSent: 0, conversationCount: 0, responseCount: 0, responseTimeTotalSeconds: 0 },
					lastInteractionAt: at,
					lastInboundAt: at,
					firstInteractionAt: at,
				},
			],
		}),
	]);
	const after = (await ContactModel.findById(c._id).lean())!;
	if (!(after.tags ?? []).includes("vip")) lostTags++;
	if (after.messagesReceived !== 1) lostFigures++;
}
console.log(JSON.stringify({ pairs: PAIRS, lostTags, lostFigures }));
await closeDb();
await db.stop();
