import type { ActionHandler, ActionSchema, EventSchema, Service, ServiceHooks, ServiceSchema } from "moleculer";

// The 0.15 template types `this` through `ServiceSchema<Settings, Methods>`, but a service's own
// methods would then be written twice (the object and its type). `defineService<Mixed, Vars>()(schema)`
// infers them from the schema instead: `this` in actions, events, hooks, lifecycle handlers and
// methods is the service with its settings, the methods its mixins bring (`Mixed`, e.g.
// TenantMethods), the state it keeps on itself (`Vars`) and its own methods.
// Curried because TypeScript cannot infer some type arguments while taking others explicitly.
//
// How to write a schema so the inference holds (test/types/services.ts fails when it does not):
// - `methods` before `actions`, `events` and the lifecycle handlers: TypeScript infers an object
//   literal's members left to right, and a handler that returns something of `this` needs the
//   methods' type when it is read;
// - a method that uses `this` declares its return type (else its type is circular).

export type ServiceThis<S, M, V = object> = Service<S> & V & M;

declare module "moleculer" {
	interface ActionSchema {
		/**
		 * The action's own request timeout (ms), which Moleculer's timeout middleware honours
		 * (middlewares/timeout.js reads `action.timeout`) but its types omit: declared here so a
		 * long action says so in its schema instead of being patched after it.
		 */
		timeout?: number;
	}
}

// Moleculer's own `ServiceSchema<S, M, V, This>` types handlers with a `this: This` parameter.
// Such a parameter made TypeScript give up inferring the methods as soon as a lifecycle handler or
// an action used `this` (it then fell back to `ServiceMethods`, whose index signature lets
// `this.anyName()` through as `any`). One `ThisType` over the whole schema, and handlers without
// a `this` parameter, keep the inference; the constraint `Own extends object` makes a failed
// inference an error (`this.x` unknown) instead of a silent `any`.
/** Moleculer's handler, without its `this` parameter (the schema's `ThisType` gives `this`). */
type Handler = (ctx: Parameters<ActionHandler>[0]) => unknown;
type Lifecycle = () => void | Promise<void>;

type Schema<S, Own, This> = Omit<ServiceSchema<S>, "actions" | "events" | "hooks" | "methods" | "created" | "started" | "stopped"> & {
	methods?: Own;
	actions?: { [name: string]: (Omit<ActionSchema<This>, "handler" | "remoteHandler"> & { handler?: Handler }) | Handler | boolean };
	events?: { [name: string]: (Omit<EventSchema, "handler"> & { handler?: Handler }) | Handler };
	hooks?: ServiceHooks<This>;
	created?: () => void;
	started?: Lifecycle;
	stopped?: Lifecycle;
};

declare const serviceThis: unique symbol;
/** A schema that carries the type of its service's `this`, for `ServiceOf`. */
export type TypedServiceSchema<S, This> = ServiceSchema<S> & { readonly [serviceThis]?: This };

/** The `this` of a schema made by `defineService`: the type of `broker.getLocalService(name)`. */
export type ServiceOf<X> = X extends { readonly [serviceThis]?: infer This } ? This : never;

export function defineService<Mixed extends object = object, Vars extends object = object>() {
	// `object`, not moleculer's ServiceSettingSchema: all its keys are optional, so settings sharing
	// none of them (`{ suffix: "!" }`) did not satisfy it and `this.settings` lost their type.
	return <S extends object, Own extends object>(
		schema: Schema<S, Own, ServiceThis<S, Mixed & Own, Vars>> & ThisType<ServiceThis<S, Mixed & Own, Vars>>
	): TypedServiceSchema<S, ServiceThis<S, Mixed & Own, Vars>> => schema as unknown as ServiceSchema<S>;
}
