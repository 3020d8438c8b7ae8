import { dropPgDatabase } from "../../lib/ferretdb-pg.ts";

export default async function globalTeardown() {
	await globalThis.__FERRETDB__?.stop();
	if (globalThis.__FERRETDB_PG_URL__) await dropPgDatabase(globalThis.__FERRETDB_PG_URL__);
}
