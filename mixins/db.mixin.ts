import type { Model } from "mongoose";
import type { ServiceSchema } from "moleculer";
import { acquireDb, dbAnswers, releaseDb } from "../lib/db.ts";
import { config } from "../lib/config.ts";

/**
 * Gives a service the node's mongoose connection for its lifetime and creates the indexes its
 * models declare. Several services on one node share the connection; the last to stop closes it.
 */
export function DbMixin(models: Model<any>[]): Partial<ServiceSchema> {
	return {
		actions: {
			/** For a gateway node without a database of its own: does this node's database answer? */
			ready: { visibility: "public", handler: () => dbAnswers() },
		},
		async started() {
			const url = config().mongoUrl;
			if (!url) throw new Error("MONGO_URL is not set (bin/start.ts sets it after starting the embedded FerretDB)");
			await acquireDb(url);
			for (const model of models) await model.createIndexes();
		},
		async stopped() {
			await releaseDb();
		},
	};
}
