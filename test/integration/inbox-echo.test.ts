import { randomUUID } from "node:crypto";
import { customerWrites } from "../helpers/inbox.ts";
import { nodeForFile, waitUntil } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";
import { ConversationModel, type Conversation } from "../../models/conversation.model.ts";
import { ContactModel } from "../../models/contact.model.ts";
import { MessageModel } from "../../models/message.model.ts";
import { InboxActivityModel } from "../../models/inbox-activity.model.ts";
import { ACTIVITY_QUEUED, dmRows, recordSent, type DmActivity } from "../../services/inbox/activity.ts";
import { ECHO_WINDOW_MS } from "../../services/inbox/echoes.ts";
import { uuidFromName } from "../../lib/ids.ts";

// X's echo of one of our own sends, applied by the account's writer before the send's row: it is
// stored (and counted) as a message written in X's app, marked as a candidate echo; the send's
// row then finds it in the account's candidates (one query per batch, not one per send), deletes
// it and is not counted again. A candidate no send matched leaves the set once the queue is past
// its window (services/inbox/echoes.ts).

const node = nodeForFile("inbox_echo", { services: ["inbox", "contacts"] });

let seq = 0;
async function customerWrote(merchantId: string) {
	const { account } = await createAccount(merchantId);
	const customerId = String(8_100_000 + ++seq);
	await customerWrites(node.broker, {
		merchantId,
		accountId: account._id,
		accountTwitterUserId: account.twitterUserId,
		customerId,
		eventId: `q-${seq}`,
		text: "còn hàng không?",
	});
	const conversation = (await ConversationModel.findOne({ accountId: account._id }).lean<Conversation>())!;
	return { account, customerId, conversation };
}

/** A DM the account wrote (in X's app, or X's echo of our send), queued as the webhooks service queues it. */
function accountWrote(account: { _id: string; twitterUserId: string }, customerId: string, eventId: string, at: Date): DmActivity {
	return {
		eventId,
		createdAt: at.toISOString(),
		senderId: account.twitterUserId,
		recipientId: customerId,
		text: "Tết sale -10%",
		mediaUrl: null,
		customerId,
		outbound: true,
		profile: null,
	};
}

const applied = (rowId: string) =>
	waitUntil(async () => (await InboxActivityModel.countDocuments({ _id: rowId })) === 0, 10_000, `${rowId} applied`);

test("X's echo of a campaign DM applied before the send's row: one message, counted once", async () => {
	const merchantId = "m-echo-race";
	const { account, customerId, conversation } = await customerWrote(merchantId);
	const twitterMessageId = `tw-${randomUUID()}`;
	const sentAt = new Date();

	// The echo first: nothing says it is ours yet, so it is an X-app message, counted.
	const echoRow = dmRows(merchantId, account._id, [accountWrote(account, customerId, twitterMessageId, sentAt)], []);
	await node.broker.call("inbox.enqueue", { accountId: account._id, dms: [echoRow[0].data], reads: [] }, { meta: { merchantId } });
	await applied(echoRow[0]._id);
	const echoId = uuidFromName(`x-dm:${account._id}:${twitterMessageId}`);
	expect(await MessageModel.findById(echoId).lean()).toMatchObject({ origin: "x_app", echoCandidateOf: account._id });
	expect((await ConversationModel.findById(conversation._id).lean())!.messageCount).toBe(2);

	// Then the send's outcome, as the pipeline records it: our message stored, its row queued.
	const messageId = randomUUID();
	await MessageModel.create({
		_id: messageId,
		merchantId,
		accountId: account._id,
		conversationId: conversation._id,
		contactId: conversation.contactId,
		direction: "outbound",
		content: "Tết sale -10%",
		status: "sent",
		origin: "campaign:c-1",
		twitterMessageId,
		sentAt,
	});
	await recordSent(node.broker, [
		{
			messageId,
			merchantId,
			accountId: account._id,
			conversationId: conversation._id,
			contactId: conversation.contactId,
			sentAt,
			kind: "campaign",
			twitterMessageId,
		},
	]);
	await applied(`sent:${messageId}`);

	const outbound = await MessageModel.find({ conversationId: conversation._id, direction: "outbound" }).lean();
	expect(outbound.map(m => m._id)).toEqual([messageId]);
	expect((await ConversationModel.findById(conversation._id).lean())!.messageCount).toBe(2);
	const contact = (await ContactModel.findById(conversation.contactId).lean())!;
	expect(contact).toMatchObject({ messagesReceived: 1, messagesSent: 1, conversationCount: 1 });
	expect(await MessageModel.countDocuments({ echoCandidateOf: account._id })).toBe(0);
});

test("an X-app message no send matches stays, and leaves the candidates once the queue is past its window", async () => {
	const merchantId = "m-echo-expiry";
	const { account, customerId, conversation } = await customerWrote(merchantId);
	const written = new Date();
	const fromPhone = dmRows(merchantId, account._id, [accountWrote(account, customerId, `tw-${randomUUID()}`, written)], []);
	await node.broker.call("inbox.enqueue", { accountId: account._id, dms: [fromPhone[0].data], reads: [] }, { meta: { merchantId } });
	await applied(fromPhone[0]._id);
	const phoneId = uuidFromName(`x-dm:${account._id}:${(fromPhone[0].data as DmActivity).eventId}`);
	expect(await MessageModel.findById(phoneId).lean()).toMatchObject({ echoCandidateOf: account._id });

	// Another DM from the phone, queued past the first one's window (as after a long quiet spell).
	const later = dmRows(merchantId, account._id, [accountWrote(account, customerId, `tw-${randomUUID()}`, written)], []);
	await InboxActivityModel.create({ ...later[0], receivedAt: new Date(written.getTime() + ECHO_WINDOW_MS + 60_000) });
	await node.broker.broadcast(ACTIVITY_QUEUED, { accountIds: [account._id] });
	await applied(later[0]._id);

	expect(await MessageModel.countDocuments({ echoCandidateOf: account._id })).toBe(0);
	expect(await MessageModel.countDocuments({ conversationId: conversation._id, origin: "x_app" })).toBe(2);
	expect((await ConversationModel.findById(conversation._id).lean())!.messageCount).toBe(3);
});
