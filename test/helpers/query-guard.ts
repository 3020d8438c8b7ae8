import { afterAll } from "@jest/globals";
import { formatViolation, guardRegistry } from "../../lib/query-guard.ts";

// Run after every test file's environment is set up (jest.config.js setupFilesAfterEnv): with
// QUERY_GUARD=strict (npm test), a query no declared index serves fails the file that issued it,
// listing each distinct one once (docs/indexes.md).

afterAll(() => {
	if (process.env.QUERY_GUARD !== "strict") return;
	const found = [...guardRegistry().violations.values()];
	if (!found.length) return;
	throw new Error(
		`${found.length} quer${found.length === 1 ? "y is" : "ies are"} not served by an index declared in models/ (docs/indexes.md):\n` +
			found.map(v => `- ${formatViolation(v)}${v.count > 1 ? `\n    (${v.count} times)` : ""}`).join("\n")
	);
});
