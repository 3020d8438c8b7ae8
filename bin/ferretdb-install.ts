// `npm run ferretdb:install`: builds the embedded FerretDB into .bin/ now rather than on first use
// (CI runs it before the tests so the build is not inside a test's time).
import { ensureFerretDbBinary } from "../lib/ferretdb.ts";

try {
	console.error(`FerretDB ready at ${await ensureFerretDbBinary()}`);
} catch (err) {
	console.error(`FerretDB install failed: ${(err as Error).message}`);
	process.exit(1);
}
