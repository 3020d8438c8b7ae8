import type { Model } from "@anthropic-ai/sdk/resources/messages";
import { config, DEFAULT_AI_MODELS } from "../../lib/config.ts";
import type { AiConfig } from "../../models/ai-config.model.ts";
import { MAX_REPLY_CHARS } from "./intents.ts";

// An account's chatbot settings: what PUT /ai/accounts/:id/config stored, or the defaults.

/** The model ids the installed SDK's `Model` type names (its `string & {}` escape hatch left out). */
type SdkModelId = Model extends infer M ? (M extends string ? (string extends M ? never : M) : never) : never;

// Kept in step with the SDK at type-check time: every default is an id the SDK names, and every
// id the SDK names is either a default or one the SDK marks deprecated (its DEPRECATED_MODELS).
// An SDK upgrade that adds or drops a model fails `tsc` here until the list follows.
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- a value only for its type-level check
const SDK_DEPRECATED = [
	"claude-mythos-preview",
	"claude-opus-4-5",
	"claude-opus-4-5-20251101",
	"claude-sonnet-4-5",
	"claude-sonnet-4-5-20250929",
] as const satisfies readonly SdkModelId[];
DEFAULT_AI_MODELS satisfies readonly SdkModelId[];
type Unlisted = Exclude<SdkModelId, (typeof DEFAULT_AI_MODELS)[number] | (typeof SDK_DEPRECATED)[number]>;
true satisfies [Unlisted] extends [never] ? true : { unlisted: Unlisted };

export interface AiSettings {
	enabled: boolean;
	model: string;
	systemPrompt: string;
	/** Kept for the contract; the installed SDK's Messages API no longer takes a temperature. */
	temperature: number;
	escalationThreshold: number;
	maxReplyChars: number;
}

/** AI_MODELS, or the SDK's current ids. */
export function allowedModels(): string[] {
	return config().ai.models;
}

/** Haiku answers DMs quickly and cheaply; the first allowed model when it is not allowed. */
export function defaultModel(): string {
	const models = allowedModels();
	return models.includes("claude-haiku-4-5") ? "claude-haiku-4-5" : models[0];
}

export function defaultSettings(): AiSettings {
	// The contract's example values for temperature and the threshold; the bot is off until turned on.
	return { enabled: false, model: defaultModel(), systemPrompt: "", temperature: 0.7, escalationThreshold: 0.6, maxReplyChars: 1000 };
}

export function settingsOf(stored: Partial<AiConfig> | null | undefined): AiSettings {
	const d = defaultSettings();
	if (!stored) return d;
	return {
		enabled: stored.enabled ?? d.enabled,
		model: stored.model ?? d.model,
		systemPrompt: stored.systemPrompt ?? d.systemPrompt,
		temperature: stored.temperature ?? d.temperature,
		escalationThreshold: stored.escalationThreshold ?? d.escalationThreshold,
		maxReplyChars: stored.maxReplyChars ?? d.maxReplyChars,
	};
}

/** The model a call uses: the stored one while AI_MODELS still allows it, else the default. */
export function modelFor(settings: AiSettings): string {
	return allowedModels().includes(settings.model) ? settings.model : defaultModel();
}

export function replyCap(settings: AiSettings): number {
	return Math.min(settings.maxReplyChars, MAX_REPLY_CHARS);
}

export function presentConfig(accountId: string, settings: AiSettings, updatedAt: Date | null) {
	return {
		accountId,
		...settings,
		provider: config().ai.apiKey ? "anthropic" : "builtin",
		allowedModels: allowedModels(),
		updatedAt: updatedAt ? updatedAt.toISOString() : null,
	};
}
