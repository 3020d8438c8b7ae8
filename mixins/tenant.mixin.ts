import type { Context, ServiceSchema } from "moleculer";
import type { Model } from "mongoose";
import { NotFoundError, UnauthorizedError } from "../lib/errors.ts";
import { pageOf, paged, type PageQuery, type Paged } from "../lib/pagination.ts";

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

/** The caller's filter with the merchant added; keys whose value is undefined are dropped (an absent query param filters nothing). */
export function scoped<T extends object>(ctx: Context<unknown, RequestMeta>, filter: T): T & { merchantId: string } {
	const kept = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as T;
	return { ...kept, merchantId: merchantOf(ctx) };
}

/**
 * A document of the caller by id; one of another merchant is indistinguishable from a missing one
 * (404). By _id alone, then the merchant: FerretDB 1.x pushes only an `_id` equality down to its
 * storage, so adding merchantId to the filter turns a lookup into a collection scan.
 */
export async function findOwned<T>(
	ctx: Context<unknown, RequestMeta>,
	model: Model<T>,
	id: string,
	entity: string,
	fields?: Record<string, 0 | 1>
) {
	const merchantId = merchantOf(ctx);
	const doc = await model.findOne({ _id: id } as never, fields).lean();
	if (!doc || (doc as { merchantId?: unknown }).merchantId !== merchantId) throw new NotFoundError(entity);
	return doc as T & { _id: string };
}

/** What a list asks of `findPage`, as `@moleculer/database`'s findEntities takes query, sort and fields. */
export interface FindParams {
	/** Filters of the list; undefined values are dropped, the merchant is added. */
	query?: Record<string, unknown>;
	/** The order of the page; end it on `_id` so equal keys page stably. */
	sort: Record<string, 1 | -1>;
	fields?: Record<string, 0 | 1>;
}

/**
 * One page of the caller's documents and the count of all that match, shaped as the contract's
 * paged answer; `present` turns the rows of the page into what the list returns.
 */
export async function findPage<T, R = T>(
	ctx: Context<unknown, RequestMeta>,
	model: Model<T>,
	params: FindParams,
	page: PageQuery,
	present: (rows: T[]) => R[] | Promise<R[]> = rows => rows as unknown as R[]
): Promise<Paged<R>> {
	const filter = scoped(ctx, params.query ?? {});
	const { skip, take } = pageOf(page);
	const [rows, total] = await Promise.all([
		model
			.find(filter as never, params.fields)
			.sort(params.sort)
			.skip(skip)
			.limit(take)
			.lean<T[]>(),
		model.countDocuments(filter as never),
	]);
	return paged(await present(rows), total, page);
}

/** The mixin's methods, for a service schema's `ServiceSchema<Settings, TenantMethods & ...>`. */
export const tenantMethods = { merchantOf, scoped, findOwned, findPage };
export type TenantMethods = typeof tenantMethods;

/**
 * Tenancy, written once: every query an action makes goes through `scoped()` (adds the caller's
 * merchantId), `findOwned()` (404 for another merchant's document) or `findPage()` (a paged list).
 */
export const TenantMixin: Partial<ServiceSchema> = {
	methods: tenantMethods,
};
