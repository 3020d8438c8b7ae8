import { customerWrites } from "../helpers/inbox.ts";
import { nodeForFile } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { ContactModel, type Contact } from "../../models/contact.model.ts";
import { MessageModel } from "../../models/message.model.ts";

// While a node holds an account, its writer remembers the customers' contacts and conversations
// between batches instead of reading them again (services/inbox/tenure.ts). What changes them
// behind the writer makes every writer forget: a contact's erasure, a reconcile that fixed figures.
// Each test writes again right after the change, while the writer still holds the account (it
// keeps it 3 s after its last batch).

const node = nodeForFile("inbox_tenure", { services: ["inbox", "contacts"] });

let seq = 0;
const contactOf = async (accountId: string, customerId: string) =>
	ContactModel.findOne({ accountId, twitterUserId: customerId }).lean<Contact>();

/** A merchant's new account and a customer of it, with what the customer writes, applied to the end. */
async function newCustomer(merchantId: string) {
	const { account } = await createAccount(merchantId);
	const customerId = String(9_200_000 + ++seq);
	const writes = (eventId: string) =>
		customerWrites(node.broker, { merchantId, accountId: account._id, customerId, eventId, text: eventId });
	return { account, customerId, writes };
}

test("a customer erased between two of their messages comes back as a new contact in a new conversation", async () => {
	const merchantId = "m-tenure-erase";
	const { account, customerId, writes } = await newCustomer(merchantId);
	await writes(`e-${seq}-1`);
	await writes(`e-${seq}-2`);
	const erased = (await contactOf(account._id, customerId))!;
	await node.broker.call("contacts.remove", { id: erased._id }, { meta: { merchantId } });
	expect(await contactOf(account._id, customerId)).toBeNull();

	await writes(`e-${seq}-3`);
	const back = (await contactOf(account._id, customerId))!;
	expect(back._id).not.toBe(erased._id);
	expect(back).toMatchObject({ messagesReceived: 1, conversationCount: 1 });
	const conversations = await ConversationModel.find({ accountId: account._id }).lean<Conversation[]>();
	expect(conversations).toHaveLength(1);
	expect(conversations[0]).toMatchObject({ contactId: back._id, messageCount: 1 });
	expect(await MessageModel.countDocuments({ accountId: account._id })).toBe(1);
});

test("after a reconcile fixed a conversation's figures, the next message counts from the fixed ones", async () => {
	const merchantId = "m-tenure-reconcile";
	const { account, customerId, writes } = await newCustomer(merchantId);
	await writes(`f-${seq}-1`);
	const contact = (await contactOf(account._id, customerId))!;
	const conversation = (await ConversationModel.findOne({ contactId: contact._id }).lean<Conversation>())!;
	// A message the figures miss (what a writer that died after its insert leaves): drift.
	await MessageModel.create({
		merchantId,
		accountId: account._id,
		conversationId: conversation._id,
		contactId: contact._id,
		direction: "inbound",
		content: "missed",
		twitterMessageId: `f-${seq}-missed`,
		status: "received",
		sentAt: new Date(),
	});
	const fixed = (await node.broker.call("inbox.reconcile", { merchantId, fix: true }, { timeout: 60_000 })) as { drift: unknown[] };
	expect(fixed.drift).not.toEqual([]);
	expect((await ConversationModel.findById(conversation._id).lean<Conversation>())!.messageCount).toBe(2);

	await writes(`f-${seq}-2`);
	expect((await ConversationModel.findById(conversation._id).lean<Conversation>())!.messageCount).toBe(3);
	const clean = (await node.broker.call("inbox.reconcile", { merchantId }, { timeout: 60_000 })) as { drift: unknown[] };
	expect(clean.drift).toEqual([]);
});
