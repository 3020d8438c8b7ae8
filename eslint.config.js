// ESLint flat config: the recommended rules of ESLint and typescript-eslint (syntax only, no type
// information: `npm run typecheck` is the type check, and linting stays fast on a shared machine).
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

export default tseslint.config(
	{ ignores: ["node_modules/", "console/dist/", ".bin/", "data/", "coverage/", "test-artifacts/"] },
	js.configs.recommended,
	tseslint.configs.recommended,
	{
		languageOptions: { globals: { ...globals.node } },
		rules: {
			"@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
		},
	},
	{ files: ["console/src/**"], languageOptions: { globals: { ...globals.browser } } },
	{ files: ["test/**"], languageOptions: { globals: { ...globals.jest } } },
	{
		// The console, the tests and the X sandbox handle the JSON of the wire (the contract's answers,
		// X's request bodies); typing it there would write the contract a second time.
		files: ["console/src/**", "test/**", "sandbox/**", "services/webhooks/account-activity.ts", "lib/openapi.ts"],
		rules: { "@typescript-eslint/no-explicit-any": "off" },
	},
	{
		// These extend moleculer-web's gateway methods (httpHandler, callAction), which it does not
		// type, or hold models of different document types (mongoose's Model<T> is invariant in T),
		// or call a service's own methods from a job whose schema the mixin cannot know.
		files: ["mixins/drain.mixin.ts", "mixins/idempotency.mixin.ts", "mixins/db.mixin.ts", "mixins/agenda.mixin.ts"],
		rules: { "@typescript-eslint/no-explicit-any": "off" },
	}
);
