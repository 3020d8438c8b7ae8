import type { Context, ServiceSchema } from "moleculer";
import type { Model } from "mongoose";
import { NotFoundError, UnauthorizedError } from "../lib/errors.ts";
import { pageOf, paged, type PageQuery, type Paged } from "../lib/pagination.ts";
import { decodeListCursor, encodeListCursor, walkByActivity } from "../lib/activity-buckets.ts";
import type { ActivityDayModel } from "../lib/activity-days.ts";

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

/** What a list asks of `findActivityPage`. */
export interface ActivityListParams<T> {
	/** Names the list in its cursors: a cursor of another list is refused. */
	list: string;
	model: Model<T>;
	/** The markers of the days with activity of the model's rows. */
	days: ActivityDayModel;
	/** Filters of the list; undefined values are dropped, the merchant is added. Put the selective equalities first. */
	query?: Record<string, unknown>;
	/** Hours for lists that keep most rows; days for a selective filter (tags, a search, an assignee). */
	leaf: "d" | "h";
}

/**
 * One page of the caller's rows, latest activity first (`activityAt` descending, `_id`), read bucket
 * by bucket of activity (lib/activity-buckets.ts): the work is the page's, never the merchant's
 * whole list. `total` is exact when the list ends within the next page, else a lower bound
 * (`totalExact: false`); `nextCursor` continues the list from the page's last row.
 */
export async function findActivityPage<T extends { _id: string; activityAt?: Date | null }, R = T>(
	ctx: Context<unknown, RequestMeta>,
	params: ActivityListParams<T>,
	page: PageQuery & { after?: string },
	present: (rows: T[]) => R[] | Promise<R[]> = rows => rows as unknown as R[]
): Promise<Paged<R>> {
	const merchantId = merchantOf(ctx);
	const filter = scoped(ctx, params.query ?? {});
	const { skip, take } = pageOf(page);
	const after = page.after ? decodeListCursor(params.list, merchantId, page.after) : null;
	const positionOf = (row: T) => ({ at: row.activityAt ? new Date(row.activityAt).getTime() : 0, id: row._id });
	const walk = await walkByActivity<T>({
		days: async year => (await params.days.find({ merchantId, year }, { day: 1 }).lean<{ day: string }[]>()).map(d => d.day),
		read: key => params.model.find({ ...filter, activityKeys: key } as never).lean<T[]>(),
		positionOf,
		after,
		need: skip + take + 1,
		leaf: params.leaf,
	});
	const rows = walk.rows.slice(skip, skip + take);
	const more = walk.rows.length > skip + take;
	const result = paged(await present(rows), more ? skip + take + 1 : walk.rows.length, page);
	result.pagination.totalExact = !more && !after;
	result.pagination.nextCursor = more ? encodeListCursor(params.list, merchantId, positionOf(rows[rows.length - 1])) : null;
	return result;
}

/** The mixin's methods, for a service schema's `ServiceSchema<Settings, TenantMethods & ...>`. */
export const tenantMethods = { merchantOf, scoped, findOwned, findPage, findActivityPage };
export type TenantMethods = typeof tenantMethods;

/**
 * Tenancy, written once: every query an action makes goes through `scoped()` (adds the caller's
 * merchantId), `findOwned()` (404 for another merchant's document) or `findPage()` (a paged list).
 */
export const TenantMixin: Partial<ServiceSchema> = {
	methods: tenantMethods,
};
