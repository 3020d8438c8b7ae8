import type { Context } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { MessageModel } from "../models/message.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { Id, Strict } from "../lib/schema.ts";
import { ValidationFailedError } from "../lib/errors.ts";
import { uuidFromName } from "../lib/ids.ts";
import { parsePeriod, type Period } from "./analytics/period.ts";
import { campaigns, contacts, conversations, overview, type CampaignInfo } from "./analytics/report.ts";
import { callFor } from "../lib/calls.ts";
import { ANALYTICS_MODELS, dropContactFacts, recount, type QuarterKey } from "./analytics/store.ts";
import { syncCampaign, syncContact, syncConversation, syncMessage } from "./analytics/sync.ts";

// Analytics from counters kept as events happen (docs/analytics.md): each event names an entity,
// whose facts are derived again from its current row and written once per id; the quarter-hour
// and day rows above them are recounted, never incremented. Requests sum day rows only.
// `npm run analytics:rebuild` recomputes everything from the raw rows (./analytics/rebuild.ts).

const PeriodParams = Strict({
	startDate: Type.String({ maxLength: 10, description: "YYYY-MM-DD, first local day of the period" }),
	endDate: Type.String({ maxLength: 10, description: "YYYY-MM-DD, last local day (at most 366 days)" }),
	accountId: Type.Optional(Id()),
	timezone: Type.Optional(
		Type.String({ minLength: 1, maxLength: 64, description: "IANA zone the days are read in; default Asia/Ho_Chi_Minh" })
	),
});
type PeriodQuery = Static<typeof PeriodParams>;

type EventCtx<P> = Context<P>;
type ContactEvent = { contactId: string };
type ConversationEvent = { conversationId: string };
type CampaignEvent = { merchantId: string; campaignId: string; accountId?: string; completedAt?: string; at?: string };
interface MessageEvent {
	merchantId: string;
	accountId?: string;
	conversationId?: string;
	contactId?: string;
	messageId: string;
}

function periodOf(params: PeriodQuery): Period {
	const parsed = parsePeriod(params);
	if ("problems" in parsed) throw new ValidationFailedError(parsed.problems);
	return parsed.period;
}

/** Events' work in flight: stopping waits for it (and tests, through `drain`). */
interface AnalyticsState {
	inflight: Set<Promise<unknown>>;
}

const AnalyticsService = defineService<TenantMethods, AnalyticsState>()({
	name: "analytics",
	mixins: [DbMixin(ANALYTICS_MODELS), TenantMixin],
	settings: { rest: "/" },

	methods: {
		scopeOf(ctx: TenantContext<PeriodQuery>) {
			return { merchantId: this.merchantOf(ctx), ...(ctx.params.accountId ? { accountId: ctx.params.accountId } : {}) };
		},

		/** Runs one event's work, recounts what it touched, and keeps it in flight until done (stop waits). */
		track(work: () => Promise<Set<QuarterKey>[]>) {
			const p = (async () => {
				const touched = await work();
				await recount(
					touched.flatMap(s => [...s]),
					this.logger
				);
			})().catch(err => this.logger.error("analytics: event not counted (a rebuild will count it)", err));
			this.inflight.add(p);
			void p.finally(() => this.inflight.delete(p));
			return p;
		},

		/** Resolves once every event taken so far is counted. */
		async drain() {
			while (this.inflight.size) await Promise.all([...this.inflight]);
		},

		contactChanged(contactId: string) {
			return this.track(async () => [await syncContact(contactId, this.logger)]);
		},

		conversationChanged(conversationId: string) {
			return this.track(async () => [await syncConversation(conversationId, this.logger)]);
		},

		/** Names, statuses and lifetime metrics from the campaigns service, when it offers them; else null. */
		async campaignInfo(ctx: Context, merchantId: string, campaignIds: string[]): Promise<Record<string, CampaignInfo> | null> {
			const actions = ctx.broker.registry.getActionList({ skipInternal: true, onlyAvailable: true });
			if (!actions.some(a => a.name === "campaigns.metricsFor")) return null;
			return callFor(ctx, merchantId, "campaigns.metricsFor", { campaignIds });
		},
	},

	actions: {
		overview: {
			rest: "GET /analytics/overview",
			params: PeriodParams,
			handler(ctx: TenantContext<PeriodQuery>) {
				return overview(this.scopeOf(ctx), periodOf(ctx.params));
			},
		},
		contacts: {
			rest: "GET /analytics/contacts",
			params: PeriodParams,
			handler(ctx: TenantContext<PeriodQuery>) {
				return contacts(this.scopeOf(ctx), periodOf(ctx.params));
			},
		},
		conversations: {
			rest: "GET /analytics/conversations",
			params: PeriodParams,
			handler(ctx: TenantContext<PeriodQuery>) {
				return conversations(this.scopeOf(ctx), periodOf(ctx.params));
			},
		},
		campaigns: {
			rest: "GET /analytics/campaigns",
			params: PeriodParams,
			handler(ctx: TenantContext<PeriodQuery>) {
				const merchantId = this.merchantOf(ctx);
				return campaigns(this.scopeOf(ctx), periodOf(ctx.params), ids => this.campaignInfo(ctx, merchantId, ids));
			},
		},
	},

	events: {
		"message.received"(ctx: EventCtx<MessageEvent>) {
			const { messageId, conversationId, contactId } = ctx.params;
			return this.track(async () => [
				await syncMessage(messageId, this.logger),
				...(conversationId ? [await syncConversation(conversationId, this.logger)] : []),
				...(contactId ? [await syncContact(contactId, this.logger)] : []),
			]);
		},
		"message.sent"(ctx: EventCtx<MessageEvent>) {
			const { messageId, conversationId } = ctx.params;
			return this.track(async () => {
				// X's echo of this DM, stored as an X-app message if it won the race, was then deleted.
				const echo = await echoOf(messageId);
				return [
					await syncMessage(messageId, this.logger),
					...(echo ? [await syncMessage(echo, this.logger)] : []),
					...(conversationId ? [await syncConversation(conversationId, this.logger)] : []),
				];
			});
		},
		"message.responseTimed"(ctx: EventCtx<MessageEvent>) {
			// The inbox's writer timed a reply after its message.sent: its "resp" fact and the
			// conversation's first response can be counted now.
			const { messageId, conversationId } = ctx.params;
			return this.track(async () => [
				await syncMessage(messageId, this.logger),
				...(conversationId ? [await syncConversation(conversationId, this.logger)] : []),
			]);
		},
		"message.read"(ctx: EventCtx<{ messages?: { messageId: string }[] }>) {
			return this.track(() => Promise.all((ctx.params.messages ?? []).map(m => syncMessage(m.messageId, this.logger))));
		},
		"message.failed"(ctx: EventCtx<MessageEvent>) {
			return this.track(async () => [await syncMessage(ctx.params.messageId, this.logger)]);
		},
		"contact.created"(ctx: EventCtx<ContactEvent>) {
			return this.contactChanged(ctx.params.contactId);
		},
		"contact.optedOut"(ctx: EventCtx<ContactEvent>) {
			return this.contactChanged(ctx.params.contactId);
		},
		"contact.optedIn"(ctx: EventCtx<ContactEvent>) {
			return this.contactChanged(ctx.params.contactId);
		},
		"contact.tagAdded"(ctx: EventCtx<ContactEvent>) {
			return this.contactChanged(ctx.params.contactId);
		},
		"contact.tagRemoved"(ctx: EventCtx<ContactEvent>) {
			return this.contactChanged(ctx.params.contactId);
		},
		"contact.erased"(ctx: EventCtx<ContactEvent & { merchantId: string }>) {
			const { merchantId, contactId } = ctx.params;
			return this.track(async () => [await dropContactFacts(merchantId, contactId), await syncContact(contactId, this.logger)]);
		},
		"conversation.created"(ctx: EventCtx<ConversationEvent>) {
			return this.conversationChanged(ctx.params.conversationId);
		},
		"conversation.closed"(ctx: EventCtx<ConversationEvent>) {
			return this.conversationChanged(ctx.params.conversationId);
		},
		"conversation.assigned"(ctx: EventCtx<ConversationEvent>) {
			return this.conversationChanged(ctx.params.conversationId);
		},
		"conversation.escalated"(ctx: EventCtx<ConversationEvent>) {
			return this.conversationChanged(ctx.params.conversationId);
		},
		"campaign.completed"(ctx: EventCtx<CampaignEvent>) {
			if (!ctx.params?.merchantId || !ctx.params?.campaignId) return;
			return this.track(async () => [await syncCampaign(ctx.params, this.logger)]);
		},
	},

	created() {
		this.inflight = new Set();
	},

	async stopped() {
		await this.drain();
	},
});

/** The id X's echo of our sent message would have been stored under (services/inbox/writer.ts). */
async function echoOf(messageId: string): Promise<string | null> {
	const m = await MessageModel.findById(messageId, { accountId: 1, twitterMessageId: 1, origin: 1 }).lean();
	if (!m?.twitterMessageId || m.origin === "x_app") return null;
	return uuidFromName(`x-dm:${m.accountId}:${m.twitterMessageId}`);
}

export default AnalyticsService;
