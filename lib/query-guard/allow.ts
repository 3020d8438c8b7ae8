import type { KeyPattern } from "./rule.ts";

// What the query guard knows besides the indexes declared in models/: the indexes libraries
// create on their own collections, and the exceptions, each with its reason.

/** Indexes a library creates itself on the collection it owns. */
export const LIBRARY_INDEXES: Record<string, KeyPattern[]> = {
	// @agendajs/mongo-backend creates `findAndLockNextJobIndex` when it connects (its key is
	// name, then its sort option {nextRunAt: asc, priority: desc}, then lockedAt, disabled).
	agenda_jobs: [
		[
			["name", 1],
			["nextRunAt", 1],
			["priority", -1],
			["lockedAt", 1],
			["disabled", 1],
		],
	],
};

/** Collections small enough by design that reading all of them is fine. None so far. */
export const TINY_COLLECTIONS: Record<string, string> = {};

export interface Exception {
	collection: string;
	op: string;
	/** JSON of the filter's shape (rule.ts shapeOf), as the violation prints it. */
	shape: string;
	/** KNOWN_PENDING only: the file the query is issued from (its first frame in the project). */
	file?: string;
	reason: string;
}

/** Queries of libraries that no index serves, accepted for the reason given. */
export const ALLOWED: Exception[] = [];

/**
 * Violations in code being rewritten, each with the file it is issued from; a new violation in
 * those files still fails the tests. Matched on file, collection, op and shape. None now.
 */
export const KNOWN_PENDING: Exception[] = [];
