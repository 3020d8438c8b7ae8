import { client, dropDatabase, NATS_URL, startNode, tokenFor, useFreshDatabase, waitForAliases, type TestNode } from "../helpers/node.ts";
import { createAccount } from "../helpers/accounts.ts";

useFreshDatabase("twonodes");

describe("a gateway node and a core node joined by NATS", () => {
	let gateway: TestNode;
	let core: TestNode;
	beforeAll(async () => {
		core = await startNode({ services: ["accounts"], transporter: NATS_URL, nodeID: "core-2n" });
		gateway = await startNode({ services: ["api"], transporter: NATS_URL, nodeID: "gateway-2n" });
		await waitForAliases(gateway.broker, ["accounts.list"]);
	});
	afterAll(async () => {
		await gateway.stop();
		await core.stop();
		await dropDatabase();
	});

	test("a REST call to the gateway is answered by the service on the other node", async () => {
		await createAccount("m-2n", { fields: { username: "remote_shop" } });
		expect(gateway.broker.getLocalService("accounts")).toBeFalsy();
		const res = await client(gateway.url, tokenFor("m-2n")).get("/accounts");
		expect(res.status).toBe(200);
		expect(res.body.data.map((a: { username: string }) => a.username)).toEqual(["remote_shop"]);
	});

	test("a validation error raised on the core node keeps its details across NATS", async () => {
		const res = await client(gateway.url, tokenFor("m-2n")).get("/accounts?take=0");
		expect(res.status).toBe(422);
		expect(res.body.details).toEqual([{ field: "take", message: "must be at least 1" }]);
	});

	test("readiness on a gateway-only node asks a core node for the database", async () => {
		const res = await client(gateway.url).get("/health/ready");
		expect(res.status).toBe(200);
		expect(res.body).toMatchObject({ database: true, broker: true });
	});

	test("when no node runs the service, the gateway answers 503, not 500", async () => {
		await core.stop();
		const api = client(gateway.url, tokenFor("m-2n"));
		// The alias may linger a moment after the node leaves; the call then finds no endpoint.
		const res = await api.get("/accounts");
		expect([404, 503]).toContain(res.status);
		expect(res.body.success).toBe(false);
		expect(res.body.errorCode).not.toBe("INTERNAL_ERROR");
		core = await startNode({ services: ["accounts"], transporter: NATS_URL, nodeID: "core-2n-again" });
	});
});
