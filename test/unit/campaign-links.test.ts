import { findLinks, rewriteLinks, trackingToken } from "../../services/campaigns/links.ts";

const key = Buffer.alloc(32, 7);

describe("links in a campaign message", () => {
	test("http and https links are found; sentence punctuation after them is not part of them", () => {
		const text = "Sale at https://shop.vn/tet?code=TET2026. See (http://x.co/a) or https://en.wikipedia.org/wiki/Foo_(bar), thanks!";
		expect(findLinks(text).map(l => l.url)).toEqual([
			"https://shop.vn/tet?code=TET2026",
			"http://x.co/a",
			"https://en.wikipedia.org/wiki/Foo_(bar)",
		]);
	});

	test("text without a link, or with only a scheme, has none", () => {
		expect(findLinks("Chào bạn, mã giảm giá TET2026")).toEqual([]);
		expect(findLinks("https:// alone")).toEqual([]);
	});

	test("each link is replaced by <base>/r/<token>, the rest of the text untouched", () => {
		const out = rewriteLinks("A https://a.vn/1 and B https://b.vn/2.", "https://api.goodgo.com/", (url, i) => `tok${i}`);
		expect(out.text).toBe("A https://api.goodgo.com/r/tok0 and B https://api.goodgo.com/r/tok1.");
		expect(out.links).toEqual([
			{ token: "tok0", url: "https://a.vn/1" },
			{ token: "tok1", url: "https://b.vn/2" },
		]);
	});

	test("the same delivery and link always give the same token; another delivery, position or key another one", () => {
		const t = trackingToken(key, "c1:contact1", 0, "https://a.vn");
		expect(t).toMatch(/^[A-Za-z0-9_-]{22}$/);
		expect(trackingToken(key, "c1:contact1", 0, "https://a.vn")).toBe(t);
		expect(
			new Set([
				t,
				trackingToken(key, "c1:contact2", 0, "https://a.vn"),
				trackingToken(key, "c1:contact1", 1, "https://a.vn"),
				trackingToken(Buffer.alloc(32, 8), "c1:contact1", 0, "https://a.vn"),
			]).size
		).toBe(4);
	});
});
