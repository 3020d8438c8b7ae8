import { Type, type Static } from "@sinclair/typebox";

// One pagination for every list: `skip` (default 0) and `take` (default 20, at most 100; more
// is a 422, not a silent cap), answered with the contract's {page, limit, total, totalPages}.

export const MAX_TAKE = 100;

export const PageParams = {
	skip: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 })),
	take: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_TAKE, default: 20 })),
};

export type PageQuery = { skip?: number; take?: number };

export interface Pagination {
	page: number;
	limit: number;
	total: number;
	totalPages: number;
	/**
	 * Lists walked by activity (GET /contacts, GET /conversations): false when `total` is a lower
	 * bound (the rows up to this page and one more), true when the walk reached the list's end.
	 */
	totalExact?: boolean;
	/** Lists walked by activity: the `after` of the next page, null on the last. */
	nextCursor?: string | null;
}

/** `after`: a keyset cursor (the `nextCursor` of the page before); `skip` then counts from it. */
export const CursorParams = {
	after: Type.Optional(Type.String({ minLength: 1, maxLength: 300, description: "nextCursor of the previous page" })),
};

/** What a list action returns; the gateway turns it into {success, data, pagination}. */
export interface Paged<T> {
	$paginated: true;
	data: T[];
	pagination: Pagination;
}

export function pageOf(query: PageQuery): { skip: number; take: number } {
	return { skip: query.skip ?? 0, take: query.take ?? 20 };
}

export function paged<T>(data: T[], total: number, query: PageQuery): Paged<T> {
	const { skip, take } = pageOf(query);
	return {
		$paginated: true,
		data,
		pagination: { page: Math.floor(skip / take) + 1, limit: take, total, totalPages: Math.ceil(total / take) },
	};
}

export function isPaged(value: unknown): value is Paged<unknown> {
	return typeof value === "object" && value !== null && (value as { $paginated?: unknown }).$paginated === true;
}

export type PageParamsType = Static<ReturnType<typeof Type.Object<typeof PageParams>>>;
