import type { ServiceSchema } from "moleculer";
import { Type, type Static } from "@sinclair/typebox";
import { AccountModel, ACCOUNT_STATUSES, type Account } from "../models/account.model.ts";
import { DbMixin } from "../mixins/db.mixin.ts";
import { TenantMixin, type TenantContext } from "../mixins/tenant.mixin.ts";
import { PageParams, pageOf, paged } from "../lib/pagination.ts";
import { presentAccount } from "./accounts/present.ts";
import { Id, StringEnum, Strict } from "../lib/schema.ts";
import { ValidationFailedError } from "../lib/errors.ts";
import { BusinessHoursSchema, businessHoursProblems } from "./accounts/business-hours.ts";

const ListParams = Strict({ status: Type.Optional(StringEnum(ACCOUNT_STATUSES)), ...PageParams });

const GetParams = Strict({ id: Id() });
const UpdateParams = Strict({
	id: Id(),
	autoReplyEnabled: Type.Optional(Type.Boolean()),
	businessHours: Type.Optional(BusinessHoursSchema),
});

const AccountsService: ServiceSchema = {
	name: "accounts",
	mixins: [DbMixin([AccountModel]), TenantMixin],
	settings: { rest: "/" },

	actions: {
		list: {
			rest: "GET /accounts",
			params: ListParams,
			async handler(ctx: TenantContext<Static<typeof ListParams>>) {
				const filter = this.scoped(ctx, ctx.params.status ? { status: ctx.params.status } : {});
				const { skip, take } = pageOf(ctx.params);
				const [rows, total] = await Promise.all([
					AccountModel.find(filter).sort({ connectedAt: -1, _id: 1 }).skip(skip).limit(take).lean<Account[]>(),
					AccountModel.countDocuments(filter),
				]);
				return paged(rows.map(presentAccount), total, ctx.params);
			},
		},
		get: {
			rest: "GET /accounts/:id",
			params: GetParams,
			async handler(ctx: TenantContext<Static<typeof GetParams>>) {
				const account = await this.findOwned(ctx, AccountModel, ctx.params.id, "Account");
				return presentAccount(account as Account);
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
				return presentAccount(account as Account);
			},
		},
	},
};

export default AccountsService;
