// Jest 30 on Node 24, ESM (Agenda 6 is ESM-only): run with NODE_OPTIONS=--experimental-vm-modules
// (npm test does). ts-jest transpiles each file alone; `tsc --noEmit` does the type check.
export default {
	testEnvironment: "node",
	roots: ["<rootDir>/test"],
	testMatch: ["**/*.test.ts"],
	extensionsToTreatAsEsm: [".ts"],
	transform: {
		// Sources import "./x.ts" (Node 24 runs them as they are); keep those paths as written.
		"^.+\\.ts$": ["ts-jest", { useESM: true, diagnostics: false, tsconfig: { rewriteRelativeImportExtensions: false } }],
	},
	globalSetup: "<rootDir>/test/setup/global-setup.ts",
	globalTeardown: "<rootDir>/test/setup/global-teardown.ts",
	// Fails a test file whose code sent a query no declared index serves (QUERY_GUARD=strict).
	setupFilesAfterEnv: ["<rootDir>/test/helpers/query-guard.ts"],
	testTimeout: 60_000,
};
