import { WebhookDeliveryModel } from "../../models/webhook-delivery.model.ts";
import { GroupCommit } from "../../lib/group-commit.ts";
import { duplicateIdsOf } from "../../lib/ids.ts";

// The raw deliveries' durable store, written by group commit: concurrent deliveries are inserted
// together (one unordered insert per group), and each caller learns whether its delivery is new
// or one already stored (its id is the SHA-256 of the body, so an X retry is a duplicate key).
// The 200 goes out only after the insert that holds the delivery has returned.

export interface NewDelivery {
	_id: string;
	forUserId: string | null;
	payload: string;
	eventCount: number;
}

/** true: stored now; false: already stored (a retry). Throws when the group's insert failed otherwise. */
async function insertGroup(docs: NewDelivery[]): Promise<boolean[]> {
	const fresh = docs.map(() => true);
	// Two copies of one body in the same group: the second is a retry of the first.
	const seen = new Set<string>();
	const unique = docs.filter((d, i) => {
		if (seen.has(d._id)) {
			fresh[i] = false;
			return false;
		}
		seen.add(d._id);
		return true;
	});
	try {
		await WebhookDeliveryModel.insertMany(unique, { ordered: false });
	} catch (err) {
		const dupIds = duplicateIdsOf(err, unique);
		// Anything but duplicate keys leaves the group's fate unknown: every caller gets the error.
		if (!dupIds) throw err;
		docs.forEach((d, i) => {
			if (dupIds.has(d._id)) fresh[i] = false;
		});
	}
	return fresh;
}

export function deliveryStore(): GroupCommit<NewDelivery, boolean> {
	return new GroupCommit(insertGroup, { maxBatch: 200 });
}
