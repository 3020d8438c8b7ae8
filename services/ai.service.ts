import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { AiConfigModel, type AiConfig } from "../models/ai-config.model.ts";
import { AiReplyModel, type AiReply } from "../models/ai-reply.model.ts";
import { AccountModel, type Account } from "../models/account.model.ts";
import { ConversationModel, type Conversation } from "../models/conversation.model.ts";
import { MessageModel, type Message } from "../models/message.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { Id, Strict } from "../lib/schema.ts";
import { ValidationFailedError } from "../lib/errors.ts";
import { isDuplicateKey } from "../lib/ids.ts";
import { config } from "../lib/config.ts";
import { answerMessage, type AnswerResult } from "./ai/answer.ts";
import { autoReplySkipReason, type AutoReplyFacts } from "./ai/auto-reply.ts";
import { createClaude, type Claude } from "./ai/claude.ts";
import { MAX_REPLY_CHARS } from "./ai/intents.ts";
import { conversationTurns } from "./ai/prompt.ts";
import { allowedModels, presentConfig, settingsOf, type AiSettings } from "./ai/settings.ts";
import type { SendToContactResult } from "./inbox/send.ts";
import { callFor } from "../lib/calls.ts";

// The AI chatbot. Claude (ANTHROPIC_API_KEY) or the built-in classifier answers a customer's
// message with a reply, an intent and a confidence (services/ai/answer.ts); a complaint, a
// request for a person or a low confidence flags the conversation for a human (inbox.escalate),
// and an opt-out opts the contact out. POST /ai/conversations/:id/message answers without
// sending; on `message.received` the bot replies by itself through the inbox (and so through
// the x service's send limits) when the account lets it. Design: docs/ai-chatbot.md.

const ConfigFields = {
	enabled: Type.Optional(Type.Boolean()),
	model: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: "a Claude model id from AI_MODELS" })),
	systemPrompt: Type.Optional(Type.String({ maxLength: 8000 })),
	temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
	escalationThreshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "below this confidence a person takes over" })),
	maxReplyChars: Type.Optional(Type.Integer({ minimum: 20, maximum: MAX_REPLY_CHARS })),
};
const AccountParams = Strict({ accountId: Id() });
const UpdateConfigParams = Strict({ accountId: Id(), ...ConfigFields });
const MessageParams = Strict({
	conversationId: Id(),
	message: Type.String({ minLength: 1, maxLength: MAX_REPLY_CHARS, description: "the customer's message to answer" }),
});

interface ReceivedEvent {
	merchantId: string;
	accountId: string;
	contactId: string;
	conversationId: string;
	messageId: string;
	content?: string;
	at?: string | Date;
}

type SendError = { code?: number; type?: string; message?: string };

/** The Claude client when ANTHROPIC_API_KEY is set; null: the built-in classifier answers. */
interface AiState {
	claude: Claude | null;
}

const AiService = defineService<TenantMethods, AiState>()({
	name: "ai",
	mixins: [DbMixin([AiConfigModel, AiReplyModel]), TenantMixin],
	settings: { rest: "/" },

	methods: {
		/** The service's clock; tests replace it. */
		now(): Date {
			return new Date();
		},

		/** Up to `limit` messages of the conversation, newest first; sends that failed never reached the customer. */
		recentMessages(conversationId: string, limit: number): Promise<Message[]> {
			if (limit <= 0) return Promise.resolve([]);
			return MessageModel.find({ conversationId, status: { $ne: "failed" } }, { direction: 1, content: 1, type: 1 })
				.sort({ createdAt: -1, _id: -1 })
				.limit(limit)
				.lean<Message[]>();
		},

		/** Escalation and opt-out, both idempotent. An opt-out the model is unsure of goes to a person instead. */
		async applyEffects(
			ctx: Context,
			p: {
				merchantId: string;
				conversationId: string;
				contactId: string;
				answer: { intent?: string | null; needsHumanEscalation?: boolean | null; escalationReason?: string | null };
			}
		) {
			if (p.answer.escalationReason) {
				await callFor(ctx, p.merchantId, "inbox.escalate", { conversationId: p.conversationId, reason: p.answer.escalationReason });
			}
			if (p.answer.intent === "opt_out" && !p.answer.needsHumanEscalation) {
				await callFor(ctx, p.merchantId, "contacts.optOut", { id: p.contactId });
			}
		},

		/** The decision for one inbound message, recorded once; a later duplicate gets the first one. */
		async record(doc: Partial<AiReply> & { _id: string }): Promise<AiReply> {
			try {
				return (await AiReplyModel.create(doc)).toObject() as AiReply;
			} catch (err) {
				if (!isDuplicateKey(err)) throw err;
				return (await AiReplyModel.findById(doc._id).lean<AiReply>())!;
			}
		},

		async autoReply(ctx: Context, ev: ReceivedEvent) {
			let decision = await AiReplyModel.findById(ev.messageId).lean<AiReply>();
			if (decision && decision.status !== "answered") return; // handled before: a replay
			if (!decision) {
				const account = await AccountModel.findById(ev.accountId).lean<Account>();
				if (!account || account.merchantId !== ev.merchantId || !account.autoReplyEnabled) return;
				const settings = settingsOf(await AiConfigModel.findById(ev.accountId).lean<AiConfig>());
				if (!settings.enabled) return;
				const conversation = await ConversationModel.findById(ev.conversationId).lean<Conversation>();
				// The message itself (newest, when nothing came after it) and the context before it.
				const recent = await this.recentMessages(ev.conversationId, config().ai.contextMessages + 1);
				const base = {
					_id: ev.messageId,
					merchantId: ev.merchantId,
					accountId: ev.accountId,
					conversationId: ev.conversationId,
					contactId: ev.contactId,
				};
				const skip = autoReplySkipReason({
					messageId: ev.messageId,
					at: ev.at ? new Date(ev.at) : this.now(),
					// mongoose types a missing day as null, the schedule reader as undefined: the same to it.
					businessHours: account.businessHours as AutoReplyFacts["businessHours"],
					conversation,
					latestMessageId: recent[0]?._id ?? null,
				});
				if (skip) {
					await this.record({ ...base, status: "skipped", reason: skip });
					return;
				}
				const answer: AnswerResult = await answerMessage({
					settings,
					text: recent[0].content ?? "",
					turns: conversationTurns([...recent].reverse()),
					claude: this.claude,
				});
				if (answer.fallback)
					this.logger.warn(`Claude did not answer message ${ev.messageId}: ${answer.fallback}; the built-in classifier did`);
				const { message, intent, confidence, needsHumanEscalation, escalationReason, provider } = answer;
				decision = await this.record({
					...base,
					status: "answered",
					reply: message,
					intent,
					confidence,
					needsHumanEscalation,
					escalationReason,
					provider,
				});
			}
			if (decision?.status !== "answered") return; // a concurrent delivery decided first, and finished
			await this.applyEffects(ctx, {
				merchantId: decision.merchantId,
				conversationId: decision.conversationId,
				contactId: decision.contactId,
				answer: decision,
			});
			if (decision.intent === "opt_out" && !decision.needsHumanEscalation) {
				await AiReplyModel.updateOne({ _id: decision._id }, { $set: { status: "skipped", reason: "opted_out" } });
				return;
			}
			await this.sendReply(ctx, decision);
		},

		/** The bot's reply through the inbox; its idempotency key makes a replay answer the first send. */
		async sendReply(ctx: Context, decision: AiReply) {
			let result: SendToContactResult;
			try {
				result = await callFor(ctx, decision.merchantId, "inbox.sendToContact", {
					contactId: decision.contactId,
					content: decision.reply ?? "", // "answered" always has one; an empty one is refused like a missing one was
					origin: "bot",
					idempotencyKey: `bot:${decision._id}`,
				});
			} catch (err) {
				const e = err as SendError;
				if (e.type === "IDEMPOTENCY_IN_PROGRESS") return; // another delivery of the event is sending it
				// RATE_LIMITED (nothing went out) or X_DELIVERY_UNKNOWN: the conversation still awaits a reply, for an agent.
				await AiReplyModel.updateOne({ _id: decision._id }, { $set: { status: "failed", reason: e.type ?? e.message ?? "send failed" } });
				this.logger.warn(`Bot reply to message ${decision._id} not sent: ${e.type ?? ""} ${e.message ?? ""}`);
				return;
			}
			let update: Record<string, unknown>;
			if (result.status === "skipped") update = { status: "skipped", reason: result.reason };
			else if (result.status === "sent") update = { status: "sent", sentMessageId: result.messageId, reason: null };
			// Nothing went out (a send limit, X's 429, X out): the conversation awaits an agent.
			else if (result.status === "held")
				update = { status: "failed", reason: result.cause === "rate_limited" ? "RATE_LIMITED" : "UPSTREAM_UNAVAILABLE" };
			else if (result.status === "in_progress") return;
			else update = { status: "failed", sentMessageId: result.messageId, reason: result.reason };
			await AiReplyModel.updateOne({ _id: decision._id }, { $set: update });
		},
	},

	created() {
		this.claude = null;
	},

	started() {
		const cfg = config();
		if (cfg.ai.apiKey) {
			// The whole call, retries included, ends before the gateway's request would time out.
			const deadlineMs = Math.max(1000, cfg.requestTimeoutMs - 2000);
			this.claude = createClaude({
				apiKey: cfg.ai.apiKey,
				baseUrl: cfg.ai.baseUrl,
				timeoutMs: cfg.ai.timeoutMs,
				maxRetries: cfg.ai.maxRetries,
				deadlineMs,
			});
		} else {
			this.logger.info("ANTHROPIC_API_KEY is not set: the chatbot answers with the built-in classifier");
		}
	},

	actions: {
		getConfig: {
			rest: "GET /ai/accounts/:accountId/config",
			params: AccountParams,
			async handler(ctx: TenantContext<Static<typeof AccountParams>>) {
				const account = await this.findOwned(ctx, AccountModel, ctx.params.accountId, "Account");
				const stored = await AiConfigModel.findById(account._id).lean<AiConfig>();
				return presentConfig(account._id, settingsOf(stored), stored?.updatedAt ?? null);
			},
		},

		updateConfig: {
			rest: "PUT /ai/accounts/:accountId/config",
			params: UpdateConfigParams,
			async handler(ctx: TenantContext<Static<typeof UpdateConfigParams>>) {
				const { accountId, ...changes } = ctx.params;
				const account = await this.findOwned(ctx, AccountModel, accountId, "Account");
				const allowed = allowedModels();
				if (changes.model !== undefined && !allowed.includes(changes.model)) {
					throw new ValidationFailedError(
						[{ field: "model", message: `must be one of: ${allowed.join(", ")}` }],
						`Model "${changes.model}" is not available; allowed models: ${allowed.join(", ")}`
					);
				}
				// Fields left out keep their current value (or default).
				const current = settingsOf(await AiConfigModel.findById(account._id).lean<AiConfig>());
				const next: AiSettings = { ...current, ...Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) };
				const write = () =>
					AiConfigModel.updateOne({ _id: account._id }, { $set: { merchantId: account.merchantId, ...next } }, { upsert: true });
				// Two first PUTs at once: the loser's upsert hits the _id the winner inserted; as an update it then applies.
				await write().catch(err => (isDuplicateKey(err) ? write() : Promise.reject(err)));
				const stored = await AiConfigModel.findById(account._id).lean<AiConfig>();
				return presentConfig(account._id, settingsOf(stored), stored?.updatedAt ?? null);
			},
		},

		message: {
			rest: "POST /ai/conversations/:conversationId/message",
			params: MessageParams,
			async handler(ctx: TenantContext<Static<typeof MessageParams>>) {
				const conversation: Conversation = await this.findOwned(ctx, ConversationModel, ctx.params.conversationId, "Conversation");
				const settings = settingsOf(await AiConfigModel.findById(conversation.accountId).lean<AiConfig>());
				const history = (await this.recentMessages(conversation._id, config().ai.contextMessages)).reverse();
				const answer: AnswerResult = await answerMessage({
					settings,
					text: ctx.params.message,
					turns: conversationTurns(history, ctx.params.message),
					claude: this.claude,
				});
				if (answer.fallback)
					this.logger.warn(`Claude did not answer (conversation ${conversation._id}): ${answer.fallback}; the built-in classifier did`);
				await this.applyEffects(ctx, {
					merchantId: this.merchantOf(ctx),
					conversationId: conversation._id,
					contactId: conversation.contactId,
					answer,
				});
				const { message, intent, confidence, needsHumanEscalation, provider } = answer;
				return { message, intent, confidence, needsHumanEscalation, provider };
			},
		},
	},

	events: {
		"message.received": {
			async handler(ctx: Context<ReceivedEvent>) {
				try {
					await this.autoReply(ctx, ctx.params);
				} catch (err) {
					this.logger.error(`Auto-reply to message ${ctx.params.messageId} failed:`, err);
				}
			},
		},
	},
});

export default AiService;
