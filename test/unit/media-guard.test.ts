import { checkMediaUrl, isPrivateAddress } from "../../lib/x/media.ts";

// The media guard refuses every spelling of an address inside: IPv6 forms that carry an IPv4
// address, the URL parser's decimal/octal/hex IPv4 forms, and the reserved IPv6 ranges.

describe("isPrivateAddress", () => {
	test.each([
		"127.0.0.1",
		"0.0.0.0",
		"10.1.2.3",
		"169.254.169.254",
		"::1",
		"::",
		"[::]",
		"[::1]",
		"::127.0.0.1",
		"::7f00:1",
		"::ffff:127.0.0.1",
		"::ffff:7f00:1",
		"0:0:0:0:0:ffff:7f00:1",
		"::ffff:10.0.0.1",
		"::ffff:a9fe:a9fe",
		"::ffff:0:127.0.0.1",
		"2002:7f00:1::",
		"2002:c0a8:101::1",
		"64:ff9b::8.8.8.8",
		"2001:0:4136:e378:8000:63bf:3fff:fdd2",
		"fe80::1",
		"fe80::1%eth0",
		"fc00::1",
		"fd12:3456::1",
		"fec0::1",
		"ff02::1",
		"not-an-address",
	])("%s is refused", address => {
		expect(isPrivateAddress(address)).toBe(true);
	});

	test.each(["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "::ffff:808:808", "2002:808:808::1"])(
		"%s is public",
		address => {
			expect(isPrivateAddress(address)).toBe(false);
		}
	);
});

describe("checkMediaUrl", () => {
	test.each([
		"http://127.0.0.1/a.png",
		"http://2130706433/a.png",
		"http://0177.0.0.1/a.png",
		"http://0x7f.1/a.png",
		"http://127.1/a.png",
		"http://0/a.png",
		"http://0.0.0.0/a.png",
		"http://[::]/a.png",
		"http://[::1]/a.png",
		"http://[::127.0.0.1]/a.png",
		"http://[::ffff:127.0.0.1]/a.png",
		"http://[::ffff:7f00:1]/a.png",
		"http://[fe80::1]/a.png",
		"http://[fc00::1]/a.png",
		"https://169.254.169.254/latest/meta-data",
		"http://localhost/a.png",
	])("%s is refused naming the field", async url => {
		await expect(checkMediaUrl(url, { field: "attachments[0].url" })).rejects.toMatchObject({
			code: 422,
			type: "VALIDATION_ERROR",
			data: [{ field: "attachments[0].url", message: expect.stringMatching(/private|loopback/) }],
		});
	});

	test.each(["ftp://example.com/a.png", "http://user:pw@example.com/a.png", "not a url"])("%s is refused for its shape", async url => {
		await expect(checkMediaUrl(url)).rejects.toMatchObject({ code: 422, data: [{ field: "mediaUrl" }] });
	});

	test("a public address passes; a private one passes only when allowed (tests)", async () => {
		await expect(checkMediaUrl("https://93.184.216.34/a.png")).resolves.toBeUndefined();
		await expect(checkMediaUrl("http://127.0.0.1:8080/a.png", { allowPrivateHosts: true })).resolves.toBeUndefined();
	});
});
