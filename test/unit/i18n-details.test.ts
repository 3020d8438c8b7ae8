import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { localizeDetail, vietnameseRule } from "../../lib/i18n-details.ts";
import { createAjv, toDetails } from "../../lib/validator.ts";
import { toErrorResponse } from "../../lib/http-errors.ts";
import { ValidationFailedError } from "../../lib/errors.ts";

// Every problem a check can name has a Vietnamese wording: the literal messages are read from
// the sources (a `message:` or a `return` of a sentence starting like a rule), the messages of
// Ajv's keywords are produced by compiling schemas that break them.

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const sources = (dir: string): string[] =>
	readdirSync(dir).flatMap(name => {
		const full = path.join(dir, name);
		return statSync(full).isDirectory() ? sources(full) : name.endsWith(".ts") && !name.startsWith("i18n") ? [full] : [];
	});

/** Problem sentences written in the code; `${…}` becomes a sample value. */
function sourceMessages(): string[] {
	const found = new Set<string>();
	const rule =
		/(?:message:|return|\?|:)\s*(["`])((?:must|is |for |a contact|a flow|a card|a quick|conditions|no such|only |start must|the period|\{\{)[^"`]*)\1/g;
	for (const file of ["lib", "services", "mixins"].flatMap(d => sources(path.join(root, d)))) {
		const text = readFileSync(file, "utf8");
		for (const m of text.matchAll(rule)) {
			if (/description\s*$/.test(text.slice(Math.max(0, m.index - 14), m.index))) continue; // a schema's description, not a problem
			found.add(m[2].replace(/\$\{[^}]*\}/g, s => (s.includes("join") ? "a, b" : /MAX|limit|size|DAYS/.test(s) ? "10" : "x")));
		}
	}
	return [...found];
}

test("the scan finds the problem sentences it should", () => {
	const messages = sourceMessages();
	expect(messages).toEqual(expect.arrayContaining(["is required", "must not be before startDate", "must be a list of 1 to 10 user ids"]));
	expect(messages.length).toBeGreaterThan(60);
});

test("every problem sentence in the sources has a Vietnamese wording", () => {
	const untranslated = sourceMessages().filter(m => vietnameseRule(m) === null);
	expect(untranslated).toEqual([]);
});

test("every Ajv keyword the schemas use is worded in English and in Vietnamese", () => {
	const ajv = createAjv();
	const schema = {
		type: "object",
		additionalProperties: false,
		required: ["name", "take", "tags", "kind", "when", "code", "ratio", "attrs", "flag", "step", "fixed"],
		properties: {
			name: { type: "string", minLength: 2, maxLength: 5 },
			take: { type: "integer", minimum: 1, maximum: 100 },
			tags: { type: "array", minItems: 1, maxItems: 2, uniqueItems: true },
			kind: { enum: ["a", "b"] },
			when: { type: "string", format: "date-time" },
			code: { type: "string", pattern: "^[A-Z]+$" },
			ratio: { type: "number", exclusiveMinimum: 0, exclusiveMaximum: 1 },
			attrs: { type: "object", maxProperties: 1 },
			flag: { type: "boolean" },
			step: { type: "integer", multipleOf: 5 },
			fixed: { const: "x" },
		},
	};
	const validate = ajv.compile(schema);
	const cases: [Record<string, unknown>, string, string, string][] = [
		[{}, "name", "is required", "name là bắt buộc"],
		[{ name: "abcdef" }, "name", "must be at most 5 characters", "name tối đa 5 ký tự"],
		[{ take: "many" }, "take", "must be an integer", "take phải là số nguyên"],
		[{ take: 500 }, "take", "must be at most 100", "take phải nhỏ hơn hoặc bằng 100"],
		[{ take: 0 }, "take", "must be at least 1", "take phải lớn hơn hoặc bằng 1"],
		[{ tags: [1, 2, 3] }, "tags", "must have at most 2 items", "tags tối đa 2 phần tử"],
		[{ tags: [1, 1] }, "tags", "must not contain duplicates", "tags không được có phần tử trùng nhau"],
		[{ kind: "c" }, "kind", "must be one of: a, b", "kind phải là một trong: a, b"],
		[{ when: "tomorrow" }, "when", "must be a valid date-time", "when phải là date-time hợp lệ"],
		[{ code: "abc" }, "code", "has an invalid format", "code sai định dạng"],
		[{ ratio: 1 }, "ratio", "must be less than 1", "ratio phải nhỏ hơn 1"],
		[{ attrs: { a: 1, b: 2 } }, "attrs", "must have at most 1 entries", "attrs tối đa 1 mục"],
		[{ flag: "maybe" }, "flag", "must be a boolean", "flag phải là true hoặc false"],
		[{ step: 7 }, "step", "must be a multiple of 5", "step phải là bội số của 5"],
		[{ fixed: "y" }, "fixed", 'must be equal to "x"', 'fixed phải bằng "x"'],
		[{ other: 1 }, "other", "is not allowed", "other không được phép"],
	];
	for (const [input, field, en, vi] of cases) {
		validate(input);
		const detail = toDetails(validate.errors).find(d => d.field === field);
		expect({ field, en: detail?.message, vi: detail && localizeDetail(detail.field, detail.message, "vi") }).toEqual({ field, en, vi });
	}
});

test("a 422 answers in the caller's language: the message, and each detail naming its field and rule", () => {
	const err = new ValidationFailedError([
		{ field: "templateId", message: "is required" },
		{ field: "segmentIds", message: "must have at least 1 item" },
	]);
	expect(toErrorResponse(err, "vi").body).toEqual({
		success: false,
		error: "Dữ liệu không hợp lệ",
		errorCode: "VALIDATION_ERROR",
		details: [
			{ field: "templateId", message: "templateId là bắt buộc" },
			{ field: "segmentIds", message: "segmentIds cần ít nhất 1 phần tử" },
		],
	});
	expect(toErrorResponse(err, "en").body.details).toEqual([
		{ field: "templateId", message: "is required" },
		{ field: "segmentIds", message: "must have at least 1 item" },
	]);
	// Moleculer's own wording never reaches the caller.
	const moleculer = {
		name: "ValidationError",
		message: "Parameters validation error!",
		code: 422,
		type: "VALIDATION_ERROR",
		data: [{ field: "a", message: "is required" }],
	};
	expect(toErrorResponse(moleculer, "en").body.error).toBe("Validation failed");
	expect(toErrorResponse(moleculer, "vi").body.error).toBe("Dữ liệu không hợp lệ");
});

test("a sentence nobody translated keeps its English inside a Vietnamese message", () => {
	expect(localizeDetail("x", "must rhyme", "vi")).toBe("x không hợp lệ (must rhyme)");
});
