import { Type, type Static } from "@sinclair/typebox";
import { Ajv } from "ajv";
import { StringEnum } from "../../lib/schema.ts";
import { INTENTS } from "./intents.ts";

// Claude's answer comes as the input of one forced tool call. The same schema is the tool's
// input_schema (what the model is asked to fill in) and what Ajv checks again on the way back:
// a tool input that misses a field, adds one, has an unknown intent or a confidence outside
// 0..1 is not used (the built-in classifier answers instead).

export const REPLY_TOOL_NAME = "reply_to_customer";

export const ReplyOutput = Type.Object(
	{
		reply: Type.String({ minLength: 1, description: "The message to send to the customer, in the customer's language, plain text." }),
		intent: StringEnum(INTENTS, { description: "What the customer's latest message is about." }),
		confidence: Type.Number({
			minimum: 0,
			maximum: 1,
			description: "How sure you are that the reply answers the customer correctly, 0 to 1.",
		}),
	},
	{ additionalProperties: false }
);
export type ReplyOutput = Static<typeof ReplyOutput>;

export const REPLY_TOOL = {
	name: REPLY_TOOL_NAME,
	description: "Send the reply to the customer's latest message, with its intent and your confidence.",
	input_schema: ReplyOutput as unknown as { type: "object"; properties: Record<string, unknown>; required: string[] },
};

// No type coercion here (unlike the params validator): "0.9" is not a confidence.
const validate = new Ajv({ allErrors: true, strict: false }).compile<ReplyOutput>(ReplyOutput);

/** The tool input when it matches the schema (a blank reply does not), else null with Ajv's complaint. */
export function parseReplyOutput(input: unknown): { output: ReplyOutput; problem: null } | { output: null; problem: string } {
	if (!validate(input)) {
		const problem = (validate.errors ?? []).map(e => `${e.instancePath || "input"} ${e.message}`).join("; ");
		return { output: null, problem: problem || "invalid" };
	}
	if (!input.reply.trim()) return { output: null, problem: "/reply is blank" };
	return { output: input, problem: null };
}
