import { AccountDirectory, type AccountRef } from "../../services/webhooks/account-directory.ts";

describe("AccountDirectory: the accounts of X user ids, asked once per TTL", () => {
	const account: AccountRef = { id: "a1", merchantId: "m1", twitterUserId: "100" };

	test("a known account is asked once within the TTL, again after it; an unknown one every time", async () => {
		let now = 0;
		const asked: string[] = [];
		const dir = new AccountDirectory(
			async id => {
				asked.push(id);
				return id === "100" ? account : null;
			},
			() => now
		);
		expect(await dir.get("100")).toEqual(account);
		expect(await dir.get("100")).toEqual(account);
		expect(await dir.get("200")).toBeNull();
		expect(await dir.get("200")).toBeNull();
		now = 31_000;
		await dir.get("100");
		expect(asked).toEqual(["100", "200", "200", "100"]);
	});

	test("forget and clear make the next look-up ask again (connect and disconnect events)", async () => {
		const asked: string[] = [];
		const dir = new AccountDirectory(async id => (asked.push(id), account));
		await dir.get("100");
		dir.forget("100");
		await dir.get("100");
		dir.clear();
		await dir.get("100");
		expect(asked).toHaveLength(3);
	});
});
