/** User text as a literal inside a regular expression: "a.b(" matches "a.b(", nothing else. */
export function escapeRegex(text: string): string {
	return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
