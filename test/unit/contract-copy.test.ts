import { existsSync, readFileSync } from "node:fs";

// The tests read the contract from the repository (docs/contract/API.vi.md), so a clone with
// nothing beside it runs them. Where the shared original sits next to the clone (the team's
// workspace), the copy must be byte for byte the same: it cannot drift unnoticed.

const copy = new URL("../../docs/contract/API.vi.md", import.meta.url);
const original = new URL("../../../shared/spec/API.vi.md", import.meta.url);

test("the repository carries the contract the tests read", () => {
	const text = readFileSync(copy, "utf8");
	expect(text).toContain("/api/v1/mkt-x");
	expect(text.match(/^(GET|POST|PUT|DELETE) \//gm)?.length ?? 0).toBeGreaterThan(40);
});

test("the copy is identical to ../shared/spec/API.vi.md when that file exists", () => {
	// Standalone clone: nothing to compare with (the test above still holds the copy).
	const shared = existsSync(original) ? readFileSync(original, "utf8") : readFileSync(copy, "utf8");
	expect(readFileSync(copy, "utf8")).toBe(shared);
});
