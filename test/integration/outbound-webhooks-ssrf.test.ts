import { randomUUID } from "node:crypto";
import { client, dropDatabase, startNode, tokenFor, useFreshDatabase, type TestNode } from "../helpers/node.ts";
import { startReceiver, type Receiver } from "../helpers/https-receiver.ts";
import { WebhookSubscriptionModel } from "../../models/webhook-subscription.model.ts";
import { encryptSecret } from "../../lib/crypto.ts";
import { config } from "../../lib/config.ts";

// Outbound webhook targets as production sees them (WEBHOOK_ALLOW_PRIVATE_HOSTS unset): only
// https, never an address inside the network, whatever way it is written; and a name that
// resolves inside (a DNS answer changed after the check) is refused when the delivery connects.

let node: TestNode;
let receiver: Receiver;
beforeAll(async () => {
	receiver = await startReceiver();
	delete process.env.WEBHOOK_ALLOW_PRIVATE_HOSTS;
	process.env.WEBHOOK_CA_FILE = receiver.caFile;
	useFreshDatabase("outhooks_ssrf");
	node = await startNode({ services: ["api", "outbound-webhooks"] });
});
afterAll(async () => {
	await node.stop();
	await receiver.close();
	await dropDatabase();
	delete process.env.WEBHOOK_CA_FILE;
});

const api = () => client(node.url, tokenFor("m-ssrf"));

const refused: [string, string][] = [
	["http://example.com/hook", "must be an https URL"],
	["ftp://example.com/hook", "must be an https URL"],
	["not a url", "is not a URL"],
	["https://user:pw@example.com/hook", "must not carry credentials"],
	["https://127.0.0.1/hook", "private"],
	["https://127.1/hook", "private"],
	["https://2130706433/hook", "private"],
	["https://0x7f.1/hook", "private"],
	["https://0.0.0.0/hook", "private"],
	["https://10.1.2.3/hook", "private"],
	["https://172.16.0.1/hook", "private"],
	["https://192.168.1.1/hook", "private"],
	["https://100.64.0.1/hook", "private"],
	["https://169.254.169.254/latest/meta-data", "private"],
	["https://224.0.0.1/hook", "private"],
	["https://[::1]/hook", "private"],
	["https://[::ffff:127.0.0.1]/hook", "private"],
	["https://[::ffff:a9fe:a9fe]/hook", "private"],
	["https://[fe80::1]/hook", "private"],
	["https://[fc00::1]/hook", "private"],
	["https://localhost/hook", "private"],
	["https://api.localhost/hook", "private"],
	[`http://127.0.0.1:9/hook`, "must be an https URL"],
];

describe("POST /webhook-subscriptions (SSRF)", () => {
	test.each(refused)("%s is refused (422)", async (url, message) => {
		const res = await api().post("/webhook-subscriptions", { url, events: ["message.received"] });
		expect(res.status).toBe(422);
		expect(res.body).toMatchObject({
			success: false,
			errorCode: "VALIDATION_ERROR",
			details: [{ field: "url", message: expect.stringContaining(message) }],
		});
	});

	test("a public address is accepted; moving it to a private one is refused", async () => {
		const ok = await api().post("/webhook-subscriptions", { url: "https://93.184.216.34/hook", events: ["message.received"] });
		expect(ok.status).toBe(200);
		const moved = await api().put(`/webhook-subscriptions/${ok.body.data.id}`, { url: "https://169.254.169.254/" });
		expect(moved.status).toBe(422);
		expect((await api().get(`/webhook-subscriptions/${ok.body.data.id}`)).body.data.url).toBe("https://93.184.216.34/hook");
	});

	test("a delivery does not connect to a name that resolves to a loopback address", async () => {
		// as if the name had resolved to a public address when the subscription was saved
		const port = new URL(receiver.url).port;
		const sub = await WebhookSubscriptionModel.create({
			_id: randomUUID(),
			merchantId: "m-ssrf",
			url: `https://localhost:${port}/hook`,
			events: ["message.received"],
			secret: encryptSecret("whsec_test", config().encryptionKey),
		});
		const res = await api().post(`/webhook-subscriptions/${sub._id}/test`);
		expect(res.status).toBe(200);
		expect(res.body.data).toMatchObject({ status: "failed", lastStatusCode: null, lastError: "private address refused" });
		expect(receiver.received).toHaveLength(0);
	});
});
