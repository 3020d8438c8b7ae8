import type { ErrorDetail } from "../../lib/errors.ts";

// Custom attributes of a contact: a flat map of scalars. Keys become field paths in the
// database (`attributes.<key>`), so "." and "$" can never appear in one.

export const ATTRIBUTE_KEY = /^[A-Za-z0-9_-]{1,64}$/;
export const MAX_ATTRIBUTES = 50;
export const MAX_ATTRIBUTE_STRING = 1000;

export type AttributeValue = string | number | boolean;

/** Why `key` cannot be an attribute name, or null when it can. */
export function attributeKeyProblem(key: string): string | null {
	if (!ATTRIBUTE_KEY.test(key)) return "attribute names are 1-64 letters, digits, _ or -";
	if (key === "__proto__") return "this attribute name is reserved";
	return null;
}

function valueProblem(value: unknown, allowNull: boolean): string | null {
	if (value === null) return allowNull ? null : "must not be null";
	if (typeof value === "string") return value.length > MAX_ATTRIBUTE_STRING ? `must be at most ${MAX_ATTRIBUTE_STRING} characters` : null;
	if (typeof value === "number") return Number.isFinite(value) ? null : "must be a finite number";
	if (typeof value === "boolean") return null;
	return "must be a string, number, boolean or ISO date string";
}

export interface AttributeChanges {
	set: Record<string, AttributeValue>;
	unset: string[];
}

/**
 * Checks a patch of attributes (null removes a key) against the contact's current keys and
 * splits it into what to set and what to remove. Problems name `attributes.<key>`.
 */
export function planAttributeChanges(
	patch: Record<string, unknown>,
	currentKeys: string[]
): { problems: ErrorDetail[]; changes: AttributeChanges } {
	const problems: ErrorDetail[] = [];
	const set: Record<string, AttributeValue> = {};
	const unset: string[] = [];
	for (const [key, value] of Object.entries(patch)) {
		const field = `attributes.${key}`;
		const keyProblem = attributeKeyProblem(key);
		if (keyProblem) {
			problems.push({ field, message: keyProblem });
			continue;
		}
		const problem = valueProblem(value, true);
		if (problem) problems.push({ field, message: problem });
		else if (value === null) unset.push(key);
		else set[key] = value as AttributeValue;
	}
	const after = new Set(currentKeys);
	for (const key of Object.keys(set)) after.add(key);
	for (const key of unset) after.delete(key);
	if (after.size > MAX_ATTRIBUTES)
		problems.push({ field: "attributes", message: `a contact has at most ${MAX_ATTRIBUTES} attributes (this would make ${after.size})` });
	return { problems, changes: { set, unset } };
}

/** The update operators for the changes: one path per key, so concurrent edits of other keys survive. */
export function attributeUpdate(changes: AttributeChanges): { $set?: Record<string, AttributeValue>; $unset?: Record<string, ""> } {
	const update: { $set?: Record<string, AttributeValue>; $unset?: Record<string, ""> } = {};
	const setEntries = Object.entries(changes.set);
	if (setEntries.length) update.$set = Object.fromEntries(setEntries.map(([k, v]) => [`attributes.${k}`, v]));
	if (changes.unset.length) update.$unset = Object.fromEntries(changes.unset.map(k => [`attributes.${k}`, ""] as const));
	return update;
}
