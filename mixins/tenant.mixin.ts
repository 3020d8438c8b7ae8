import type { Context, ServiceSchema } from "moleculer";
import type { Model } from "mongoose";
import { NotFoundError, UnauthorizedError } from "../lib/errors.ts";

/** What the gateway puts in ctx.meta from a verified token, and nothing more. */
export interface RequestMeta {
	merchantId?: string;
	userId?: string;
	roles?: string[];
	locale?: "vi" | "en";
	idempotencyKey?: string;
}

export type TenantContext<P = unknown> = Context<P, RequestMeta>;

/** The merchant of the caller; an action reached without one is refused, never run unscoped. */
export function merchantOf(ctx: Context<unknown, RequestMeta>): string {
	const merchantId = ctx.meta.merchantId;
	if (!merchantId) throw new UnauthorizedError("No merchant in the request");
	return merchantId;
}

/**
 * Tenancy, written once: every query an action makes goes through `scoped()` (adds the caller's
 * merchantId) or `findOwned()` (a document of another merchant is indistinguishable from a
 * missing one: 404).
 */
export const TenantMixin: Partial<ServiceSchema> = {
	methods: {
		merchantOf,
		scoped<T extends object>(ctx: TenantContext, filter: T): T & { merchantId: string } {
			return { ...filter, merchantId: merchantOf(ctx) };
		},
		async findOwned<T>(ctx: TenantContext, model: Model<T>, id: string, entity: string) {
			// By _id alone, then the merchant: FerretDB 1.x pushes only an `_id` equality down to
			// its storage, so adding merchantId to the filter turns a lookup into a collection scan.
			const merchantId = merchantOf(ctx);
			const doc = await model.findOne({ _id: id } as never).lean();
			if (!doc || (doc as { merchantId?: unknown }).merchantId !== merchantId) throw new NotFoundError(entity);
			return doc as T & { _id: string };
		},
	},
};
