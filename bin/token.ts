// `npm run token -- --merchant <id> [--user <id>] [--roles a,b] [--expires 12h]`:
// prints a bearer token signed with the configured JWT_SECRET, for trying the API locally.
import { parseArgs } from "node:util";
import { loadConfig } from "../lib/config.ts";
import { signToken } from "../lib/auth.ts";

const { values } = parseArgs({
	options: {
		merchant: { type: "string" },
		user: { type: "string" },
		roles: { type: "string" },
		expires: { type: "string", default: "12h" },
	},
});
if (!values.merchant) {
	console.error("usage: npm run token -- --merchant <id> [--user <id>] [--roles viewer] [--expires 12h]");
	process.exit(2);
}
const token = signToken(
	{ merchantId: values.merchant, userId: values.user, roles: values.roles?.split(",").filter(Boolean) },
	loadConfig().jwt,
	values.expires as "12h"
);
console.log(token);
