import type { Context } from "moleculer";

// Questions one service asks of whichever services can answer them, without knowing them:
// every action named `<service>.<method>` is a provider (say `campaigns.templateInUse` and
// `flows.templateInUse`, or `campaigns.eraseContact`). The templates service does not read the
// campaigns' collection; it asks, and a service added later answers by declaring the action.
//
// A provider that is registered but has no live node makes the call fail (503 to the client):
// "cannot tell" must never read as "not in use".

export function providersOf(ctx: Context, method: string): string[] {
	const actions = ctx.broker.registry.getActionList({ skipInternal: true }) as { name: string }[];
	return [...new Set(actions.map(a => a.name).filter(name => name.endsWith(`.${method}`) && name.split(".").length === 2))].sort();
}

/** Calls every provider of `method` with the same params (and the caller's meta); results by action name. */
export async function askProviders<T>(ctx: Context, method: string, params: Record<string, unknown>): Promise<Record<string, T>> {
	const names = providersOf(ctx, method);
	const answers = await Promise.all(names.map(name => ctx.call<T, Record<string, unknown>>(name, params)));
	return Object.fromEntries(names.map((name, i) => [name, answers[i]]));
}
