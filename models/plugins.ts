import { randomUUID } from "node:crypto";
import type { Schema } from "mongoose";

/** Ids are UUID strings, as in the contract's examples. */
export const uuidId = { type: String, default: () => randomUUID() } as const;

/**
 * The public JSON of a document: `_id` becomes `id`, `__v` goes, and the fields a schema lists
 * in `private` (token secrets and the like) never leave the service.
 */
export function publicJson(schema: Schema, hidden: string[] = []): void {
	const transform = (_doc: unknown, ret: Record<string, unknown>) => {
		ret.id = ret._id;
		delete ret._id;
		delete ret.__v;
		for (const field of hidden) delete ret[field];
		return ret;
	};
	schema.set("toJSON", { virtuals: false, versionKey: false, transform });
}
