import { Errors, Validators } from "moleculer";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import type { ErrorDetail } from "./errors.ts";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/**
 * Ajv as the broker's validator: each action's `params` is a JSON Schema (built with TypeBox so
 * the same object is the handler's TypeScript type). All problems are reported at once, each
 * with the dotted path of its field, and Moleculer turns them into a 422 ValidationError.
 *
 * Query strings arrive as text, so types are coerced ("20" → 20); nothing else is loosened:
 * unknown properties are refused by the schemas themselves (additionalProperties: false).
 */
export function createAjv(): Ajv {
	const ajv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, strict: false });
	addFormats(ajv);
	return ajv;
}

export function fieldOf(error: ErrorObject): string {
	const segments = error.instancePath
		.split("/")
		.slice(1)
		.map(s => s.replace(/~1/g, "/").replace(/~0/g, "~"));
	if (error.keyword === "required") segments.push(String(error.params.missingProperty));
	if (error.keyword === "additionalProperties") segments.push(String(error.params.additionalProperty));
	return segments.reduce((path, seg) => (/^\d+$/.test(seg) ? `${path}[${seg}]` : path ? `${path}.${seg}` : seg), "");
}

function messageOf(error: ErrorObject): string {
	switch (error.keyword) {
		case "required":
			return "is required";
		case "additionalProperties":
			return "is not allowed";
		case "maxLength":
			return `must be at most ${error.params.limit} characters`;
		case "minLength":
			return error.params.limit === 1 ? "must not be empty" : `must be at least ${error.params.limit} characters`;
		case "maxItems":
			return `must have at most ${error.params.limit} items`;
		case "minItems":
			return `must have at least ${error.params.limit} item${error.params.limit === 1 ? "" : "s"}`;
		case "enum":
			return `must be one of: ${(error.params.allowedValues as unknown[]).join(", ")}`;
		case "format":
			return `must be a valid ${error.params.format}`;
		// Ajv's own wording for the rest, made into the sentences lib/i18n-details.ts translates.
		case "type": {
			const type = String(error.params.type).split(",")[0];
			return (
				{
					integer: "must be an integer",
					number: "must be a number",
					string: "must be a string",
					boolean: "must be a boolean",
					object: "must be an object",
					array: "must be an array",
					null: "must be null",
				}[type] ?? "is invalid"
			);
		}
		case "minimum":
			return `must be at least ${error.params.limit}`;
		case "maximum":
			return `must be at most ${error.params.limit}`;
		case "exclusiveMinimum":
			return `must be greater than ${error.params.limit}`;
		case "exclusiveMaximum":
			return `must be less than ${error.params.limit}`;
		case "multipleOf":
			return `must be a multiple of ${error.params.multipleOf}`;
		case "maxProperties":
			return `must have at most ${error.params.limit} entries`;
		case "minProperties":
			return `must have at least ${error.params.limit} entries`;
		case "uniqueItems":
			return "must not contain duplicates";
		case "const":
			return `must be equal to ${JSON.stringify(error.params.allowedValue)}`;
		case "pattern":
			return "has an invalid format";
		default:
			return "is invalid";
	}
}

/** Ajv's errors as the contract's details, one per field (the first problem of each). */
export function toDetails(errors: ErrorObject[] | null | undefined): ErrorDetail[] {
	const seen = new Map<string, ErrorDetail>();
	for (const error of errors ?? []) {
		// anyOf/oneOf wrappers repeat what their branches said; keep the concrete problems.
		if (error.keyword === "anyOf" || error.keyword === "oneOf") continue;
		const field = fieldOf(error) || "body";
		if (!seen.has(field)) seen.set(field, { field, message: messageOf(error) });
	}
	if (seen.size === 0 && errors?.length) seen.set("body", { field: "body", message: "is invalid" });
	return [...seen.values()];
}

export class AjvValidator extends Validators.Base {
	private readonly ajv = createAjv();

	compile(schema: Record<string, unknown>) {
		const validate: ValidateFunction = this.ajv.compile(schema);
		return (params: Record<string, unknown>) => (validate(params) ? true : (toDetails(validate.errors) as never));
	}

	validate(params: Record<string, unknown>, schema: Record<string, unknown>): boolean {
		const result = this.compile(schema)(params);
		if (result === true) return true;
		throw new Errors.ValidationError("Validation failed", "VALIDATION_ERROR", result as unknown as Record<string, unknown>);
	}

	convertSchemaToMoleculer(schema: Record<string, unknown>) {
		return schema;
	}
}
