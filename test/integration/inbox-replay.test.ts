import { customerWrites, dmApplied } from "../helpers/inbox.ts";
import { eventRecorder, nodeForFile, waitUntil } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { ContactModel, type Contact } from "../../models/contact.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import type { DmActivity } from "../../services/inbox/activity.ts";
import { uuidFromName } from "../../lib/ids.ts";

// The writer finds DMs stored before (X or the sweeper handing an event over again, a batch that
// died after storing its messages) by its insert of the messages' unique ids, not by reading them
// first (services/inbox/writer.ts). A batch whose insert meets such a message is applied again,
// reading them: the replays are neither stored nor counted again, the rest is counted once, and
// what the first attempt created (a contact, a conversation) is still announced once.

const events = eventRecorder(["contact.created", "conversation.created", "message.received"]);
const node = nodeForFile("inbox_replay", { services: ["inbox", "contacts"], extraServices: [events.schema] });

let seq = 0;
function customerDm(customerId: string, eventId: string, at: Date): DmActivity {
	return {
		eventId,
		createdAt: at.toISOString(),
		senderId: customerId,
		recipientId: "account",
		text: `tin ${eventId}`,
		mediaUrl: null,
		customerId,
		outbound: false,
		profile: null,
	};
}

async function enqueue(merchantId: string, accountId: string, dms: DmActivity[]) {
	await node.broker.call("inbox.enqueue", { accountId, dms, reads: [] }, { meta: { merchantId } });
	for (const dm of dms) await waitUntil(() => dmApplied(accountId, dm.eventId), 10_000, `${dm.eventId} applied`);
}

const conversationOf = async (accountId: string, contactId: string) =>
	(await ConversationModel.findOne({ accountId, contactId }).lean<Conversation>())!;
const contactOf = async (accountId: string, customerId: string) =>
	(await ContactModel.findOne({ accountId, twitterUserId: customerId }).lean<Contact>())!;

test("an event handed over again, beside new ones: stored and counted once, its event announced again", async () => {
	const merchantId = "m-replay";
	const { account } = await createAccount(merchantId);
	const known = String(9_100_000 + ++seq);
	const t0 = Date.now() - 60_000;
	const first = `r-${seq}-1`;
	await customerWrites(node.broker, { merchantId, accountId: account._id, customerId: known, eventId: first, text: "a", at: new Date(t0) });
	const contact = await contactOf(account._id, known);
	expect(await conversationOf(account._id, contact._id)).toMatchObject({ messageCount: 1 });
	const announcedBefore = events.of("message.received").filter(p => p.accountId === account._id).length;

	// The same event again (a second hand-over), a new message of the same customer, and a customer
	// new to the account: one batch.
	const newcomer = String(9_100_000 + ++seq);
	const batch = [
		customerDm(known, first, new Date(t0)),
		customerDm(known, `r-${seq}-2`, new Date(t0 + 1_000)),
		customerDm(newcomer, `r-${seq}-3`, new Date(t0 + 2_000)),
	];
	await enqueue(merchantId, account._id, batch);

	expect(await MessageModel.countDocuments({ accountId: account._id })).toBe(3);
	expect(await conversationOf(account._id, contact._id)).toMatchObject({ messageCount: 2 });
	expect(await contactOf(account._id, known)).toMatchObject({ messagesReceived: 2, conversationCount: 1 });
	const fresh = await contactOf(account._id, newcomer);
	const opened = await conversationOf(account._id, fresh._id);
	expect(opened).toMatchObject({ messageCount: 1 });
	expect(fresh).toMatchObject({ messagesReceived: 1, conversationCount: 1 });
	// What the first attempt created is announced once, by the second, and marked on its message.
	await waitUntil(
		async () => events.of("conversation.created").some(p => p.conversationId === opened._id),
		5_000,
		"the newcomer's conversation announced"
	);
	expect(events.of("conversation.created").filter(p => p.conversationId === opened._id)).toHaveLength(1);
	expect(events.of("contact.created").filter(p => p.contactId === fresh._id)).toHaveLength(1);
	const newcomerMessage = await MessageModel.findById(uuidFromName(`x-dm:${account._id}:r-${seq}-3`)).lean();
	expect(newcomerMessage).toMatchObject({ createdContact: true, createdConversation: true, conversationId: opened._id });
	// Three announcements: the replay again (its handlers are idempotent) and the two new messages.
	await waitUntil(
		async () => events.of("message.received").filter(p => p.accountId === account._id).length === announcedBefore + 3,
		5_000,
		"the batch's messages announced"
	);
	const reconcile = (await node.broker.call("inbox.reconcile", { merchantId }, { timeout: 60_000 })) as { drift: unknown[] };
	expect(reconcile.drift).toEqual([]);
});

test("a message stored by a batch that died before its figures: not stored or counted again, announced", async () => {
	const merchantId = "m-replay-died";
	const { account } = await createAccount(merchantId);
	const customer = String(9_100_000 + ++seq);
	const t0 = Date.now() - 60_000;
	await customerWrites(node.broker, {
		merchantId,
		accountId: account._id,
		customerId: customer,
		eventId: `d-${seq}-1`,
		text: "a",
		at: new Date(t0),
	});
	const contact = await contactOf(account._id, customer);
	const conversation = await conversationOf(account._id, contact._id);

	// What a writer that died after its insert leaves: the message stored, its queue row still there.
	const eventId = `d-${seq}-2`;
	const messageId = uuidFromName(`x-dm:${account._id}:${eventId}`);
	await MessageModel.create({
		_id: messageId,
		merchantId,
		accountId: account._id,
		conversationId: conversation._id,
		contactId: contact._id,
		direction: "inbound",
		content: "b",
		twitterMessageId: eventId,
		status: "received",
		sentAt: new Date(t0 + 1_000),
	});
	await enqueue(merchantId, account._id, [customerDm(customer, eventId, new Date(t0 + 1_000))]);

	expect(await MessageModel.countDocuments({ accountId: account._id })).toBe(2);
	// Not counted by this batch: the figures it would have moved are reconcile's to repair (docs/ingest.md).
	expect(await conversationOf(account._id, contact._id)).toMatchObject({ messageCount: 1 });
	await waitUntil(async () => events.of("message.received").some(p => p.messageId === messageId), 5_000, "announced");
	expect(events.of("message.received").filter(p => p.messageId === messageId)).toHaveLength(1);
});
