import { MAX_MESSAGE_LENGTH } from "../../lib/x/message.ts";
import { renderTemplate, type RenderableTemplate, type RenderContact } from "../templates/render.ts";

// What an automated sender (a campaign, a flow) sends to one contact: the template rendered for
// them, rewritten if the sender needs it (a campaign's tracked links), and checked against X's
// limit. Pure; the send pipeline (pipeline.ts) takes the text from here.

export type Composed = { ok: true; text: string; mediaUrl: string | null } | { ok: false; reason: string };

export function composeMessage(
	template: RenderableTemplate,
	contact: RenderContact,
	variables: Record<string, unknown>,
	rewrite: (text: string) => string = t => t
): Composed {
	const rendered = renderTemplate(template, { contact, variables });
	if (rendered.missing.length) return { ok: false, reason: `missing_variables: ${rendered.missing.join(", ")}` };
	const text = rewrite(rendered.text);
	if (!text.trim()) return { ok: false, reason: "empty_message" };
	if (text.length > MAX_MESSAGE_LENGTH) return { ok: false, reason: `message_too_long: ${text.length} characters` };
	return { ok: true, text, mediaUrl: rendered.mediaUrl };
}
