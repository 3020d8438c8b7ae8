import { FlowClaimModel } from "../../models/flow-claim.model.ts";
import { FlowModel } from "../../models/flow.model.ts";
import { isDuplicateKey } from "../../lib/ids.ts";

// Whose turn it is at a round-robin assign node. A counter bumped with $inc is not atomic on
// FerretDB (two concurrent runs read the same value and give two conversations to one agent),
// so each turn is a row `rr:<flowId>:<path>:<n>` taken by a unique insert: the first free n is
// this assignment's, and n modulo the number of agents picks the agent. The flow keeps a hint
// of each node's next n (`turns`) so a long-running flow does not probe from zero; a stale hint
// (the $max is not atomic either) only costs a few failed inserts, since every n below it is taken.

const MAX_PROBES = 10_000;
const turnId = (flowId: string, path: string, n: number) => `rr:${flowId}:${path}:${n}`;

export async function takeTurn(flow: { _id: string; merchantId: string }, path: string, runId: string): Promise<number> {
	const key = path.replace(/\./g, "_");
	const hint = await FlowModel.findById(flow._id, { turns: 1 }).lean();
	const start = Math.max(0, Number((hint?.turns as Record<string, number> | undefined)?.[key]) || 0);
	for (let n = start; n < start + MAX_PROBES; n++) {
		try {
			await FlowClaimModel.create({
				_id: turnId(flow._id, path, n),
				merchantId: flow.merchantId,
				runId,
				token: path,
				claimedAt: new Date(),
			});
		} catch (err) {
			if (isDuplicateKey(err)) continue;
			throw err;
		}
		await FlowModel.updateOne({ _id: flow._id }, { $max: { [`turns.${key}`]: n + 1 } });
		return n;
	}
	throw new Error(`round-robin of flow ${flow._id} found no free turn after ${MAX_PROBES} tries`);
}
