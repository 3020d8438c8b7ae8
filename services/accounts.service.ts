import { Type, type Static } from "@sinclair/typebox";
import { AccountModel, ACCOUNT_STATUSES, type Account } from "../models/account.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext, type TenantMethods } from "../mixins/tenant.mixin.ts";
import { defineService } from "../lib/service.ts";
import { PageParams } from "../lib/pagination.ts";
import { presentAccount } from "./accounts/present.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ValidationFailedError } from "../lib/errors.ts";
import { BusinessHoursSchema, businessHoursProblems } from "./accounts/business-hours.ts";
import { connectAccount, disconnectAccount, accountStatistics } from "./accounts/connection.ts";
import { AccountLinkModel } from "../models/account-link.model.ts";
import { call } from "../lib/calls.ts";

const ListParams = Strict({ status: Type.Optional(StringEnum(ACCOUNT_STATUSES)), ...PageParams });

const GetParams = Strict({ id: Id() });
const ConnectParams = Strict({
	oauthToken: Type.String({ minLength: 1, maxLength: 200 }),
	oauthTokenSecret: Type.String({ minLength: 1, maxLength: 200 }),
});
const RefParams = Type.Object({ id: Type.String() });
const ByTwitterUserParams = Strict({ twitterUserId: Type.String({ minLength: 1, maxLength: 40 }) });
const UpdateParams = Strict({
	id: Id(),
	autoReplyEnabled: Type.Optional(Type.Boolean()),
	businessHours: Type.Optional(BusinessHoursSchema),
});

const AccountsService = defineService<TenantMethods>()({
	name: "accounts",
	mixins: [DbMixin([AccountModel, AccountLinkModel]), TenantMixin],
	settings: { rest: "/" },

	actions: {
		list: {
			rest: "GET /accounts",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const query = { status: ctx.params.status || undefined };
				return this.findPage(ctx, AccountModel, { query, sort: { connectedAt: -1, _id: 1 } }, ctx.params, (rows: Account[]) =>
					rows.map(presentAccount)
				);
			},
		},
		get: {
			rest: "GET /accounts/:id",
			params: GetParams,
			async handler(ctx: TenantContext<Static<typeof GetParams>>) {
				const account = await this.findOwned(ctx, AccountModel, ctx.params.id, "Account");
				return { ...presentAccount(account), statistics: await accountStatistics(ctx, account) };
			},
		},

		connect: {
			rest: "POST /accounts",
			params: ConnectParams,
			async handler(ctx: TenantContext<Static<typeof ConnectParams>>) {
				const profile = await call(ctx, "x.verifyCredentials", ctx.params);
				const account = await connectAccount(this.merchantOf(ctx), profile, ctx.params);
				ctx.emit("account.connected", { merchantId: account.merchantId, accountId: account._id, twitterUserId: account.twitterUserId });
				return presentAccount(account);
			},
		},

		disconnect: {
			rest: "DELETE /accounts/:id",
			params: GetParams,
			async handler(ctx: TenantContext<Static<typeof GetParams>>) {
				const account = await this.findOwned(ctx, AccountModel, ctx.params.id, "Account");
				await disconnectAccount(account);
				ctx.emit("account.disconnected", { merchantId: account.merchantId, accountId: account._id });
				return null;
			},
		},

		/** Internal: the active account an X user id is connected as (webhook routing), or null. */
		byTwitterUserId: {
			visibility: "public",
			params: ByTwitterUserParams,
			async handler(ctx: TenantContext<Static<typeof ByTwitterUserParams>>) {
				const link = await AccountLinkModel.findById(ctx.params.twitterUserId).lean();
				if (!link) return null;
				const account = await AccountModel.findOne({ _id: link.accountId, status: "active" }).lean<Account>();
				return account ? { id: account._id, merchantId: account.merchantId, twitterUserId: account.twitterUserId } : null;
			},
		},
		/** Internal: an account's X id, for services that keep rows by it (the caller's merchant only). */
		ref: {
			visibility: "public",
			params: RefParams,
			async handler(ctx: TenantContext<Static<typeof RefParams>>) {
				const account = await AccountModel.findById(ctx.params.id, { merchantId: 1, twitterUserId: 1 }).lean<Account>();
				if (!account || account.merchantId !== this.merchantOf(ctx)) return null;
				return { id: account._id, merchantId: account.merchantId, twitterUserId: account.twitterUserId };
			},
		},
		update: {
			rest: "PUT /accounts/:id",
			params: UpdateParams,
			async handler(ctx: TenantContext<Static<typeof UpdateParams>>) {
				const { id, autoReplyEnabled, businessHours } = ctx.params;
				if (businessHours) {
					const problems = businessHoursProblems(businessHours);
					if (problems.length) throw new ValidationFailedError(problems);
				}
				await this.findOwned(ctx, AccountModel, id, "Account");
				const set: Record<string, unknown> = {};
				if (autoReplyEnabled !== undefined) set.autoReplyEnabled = autoReplyEnabled;
				if (businessHours) {
					set["businessHours.enabled"] = businessHours.enabled;
					if (businessHours.timezone) set["businessHours.timezone"] = businessHours.timezone;
					if (businessHours.schedule) set["businessHours.schedule"] = businessHours.schedule;
				}
				if (Object.keys(set).length) await AccountModel.updateOne(this.scoped(ctx, { _id: id }), { $set: set });
				const account = await this.findOwned(ctx, AccountModel, id, "Account");
				ctx.emit("account.updated", { merchantId: account.merchantId, accountId: id });
				return presentAccount(account);
			},
		},
	},
});

export default AccountsService;
