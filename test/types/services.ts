// Type-level checks of the services' `this` (lib/service.ts), run by `npm run typecheck` (tsc reads
// test/**), not by jest: nothing here executes. When a schema's methods stop being inferred (a
// handler before `methods`, a method that uses `this` without a return type, a change to
// defineService), `this` falls back to a type where any name passes as `any`, or loses its
// methods: then an `@ts-expect-error` below has no error to expect, or an assignment fails.

import type { Context } from "moleculer";
import { defineService, type ServiceOf } from "../../lib/service.ts";
import type { TenantMethods } from "../../mixins/tenant.mixin.ts";
import type { Paged } from "../../lib/pagination.ts";
import type { SendLedger } from "../../services/x/send-ledger.ts";
import type { DmResult } from "../../services/x/send-batch.ts";
import type { Claude } from "../../services/ai/claude.ts";
import type AccountsService from "../../services/accounts.service.ts";
import type AiService from "../../services/ai.service.ts";
import type AnalyticsService from "../../services/analytics.service.ts";
import type ContactsService from "../../services/contacts.service.ts";
import type OutboundWebhooksService from "../../services/outbound-webhooks.service.ts";
import type SegmentsService from "../../services/segments.service.ts";
import type TemplatesService from "../../services/templates.service.ts";
import type XService from "../../services/x.service.ts";

/** True only for `any`: a `this` that became `any` would pass every other check. */
type IsAny<T> = 0 extends 1 & T ? true : false;
type NotAny<T> = IsAny<T> extends true ? never : T;
const is = <T>(_value: NotAny<T>) => undefined;
declare function self<X>(): ServiceOf<X>;

// Every converted service: its `this` is not `any`, has the tenant mixin's methods (where it
// mixes it in) and its own, and refuses a name it does not have.
const accounts = self<typeof AccountsService>();
is<TenantMethods["findOwned"]>(accounts.findOwned);
// @ts-expect-error accounts has no such method
accounts.noSuchMethod();

const contacts = self<typeof ContactsService>();
is<(contact: never) => { id: string }>(contacts.detail);
// @ts-expect-error contacts has no such method
contacts.noSuchMethod();

const templates = self<typeof TemplatesService>();
is<TenantMethods["scoped"]>(templates.scoped);
// @ts-expect-error templates has no such method
templates.noSuchMethod();

const segments = self<typeof SegmentsService>();
is<(query: Record<string, unknown>) => Promise<{ contactCount: number }>>(segments.evaluateQuery);
// @ts-expect-error segments has no such method
segments.noSuchMethod();

const x = self<typeof XService>();
is<SendLedger>(x.ledger);
is<(merchantId: string, accountId: string, kind: "agent", messages: []) => Promise<DmResult[]>>(x.sendMany);
// @ts-expect-error the X service does not mix the tenant methods in
x.findOwned();
// @ts-expect-error x has no such method
x.noSuchMethod();

const webhooks = self<typeof OutboundWebhooksService>();
is<() => Promise<number>>(webhooks.sweep);
is<boolean>(webhooks.sweepAgain);
// @ts-expect-error outbound-webhooks has no such method
webhooks.noSuchMethod();

const ai = self<typeof AiService>();
is<Claude | null>(ai.claude);
is<(ctx: Context, decision: never) => Promise<void>>(ai.sendReply);
// @ts-expect-error ai has no such method
ai.noSuchMethod();

const analytics = self<typeof AnalyticsService>();
is<() => Promise<void>>(analytics.drain);
is<Set<Promise<unknown>>>(analytics.inflight);
// @ts-expect-error analytics has no such method
analytics.noSuchMethod();

// defineService itself: `this` inside handlers and lifecycle handlers, whatever their order.
defineService<TenantMethods, { count: number }>()({
	name: "probe",
	methods: {
		double(): number {
			return this.count * 2;
		},
	},
	created() {
		this.count = this.double();
		// @ts-expect-error unknown names on `this` are errors in lifecycle handlers
		this.noSuchMethod();
	},
	actions: {
		list: {
			handler(ctx: Context<{ skip?: number }, { merchantId?: string }>) {
				// @ts-expect-error unknown names on `this` are errors in actions
				this.noSuchMethod();
				is<Paged<unknown>>(undefined as unknown as Awaited<ReturnType<typeof this.findPage>>);
				return this.double() + (ctx.params.skip ?? 0);
			},
		},
	},
	events: {
		"probe.happened"() {
			// @ts-expect-error unknown names on `this` are errors in events
			this.noSuchMethod();
			is<number>(this.count);
		},
	},
});
