import { Type, type TSchema } from "@sinclair/typebox";

// Small builders on top of TypeBox so every action's params schema reads the same way and
// says exactly what Ajv should check. The schema object is also the handler's type (Static<>).

/** A string that must be one of `values` (reported as "must be one of: …"). */
export const StringEnum = <const T extends readonly string[]>(values: T, opts: { default?: T[number]; description?: string } = {}) =>
	Type.Unsafe<T[number]>({ type: "string", enum: [...values], ...opts });

/** Ids are UUIDs; anything else is a 422 on that field, never a query. */
export const Id = (opts: { description?: string } = {}) => Type.String({ format: "uuid", ...opts });

/** An object that refuses properties it does not declare. */
export const Strict = <P extends Record<string, TSchema>>(properties: P, opts: { description?: string } = {}) =>
	Type.Object(properties, { additionalProperties: false, ...opts });

/**
 * An X user's profile as a webhook delivery carries it (services/webhooks/account-activity.ts),
 * or null. Null first: Ajv coerces types, and a string branch first would turn null into "".
 */
export const XProfileOrNull = Type.Union([
	Type.Null(),
	Type.Object({
		id: Type.String(),
		username: Type.String(),
		displayName: Type.String(),
		profileImageUrl: Type.Union([Type.Null(), Type.String()]),
	}),
]);
