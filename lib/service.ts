import type { ActionHandler, ActionSchema, Service, ServiceMethods, ServiceSchema } from "moleculer";

// The 0.15 template types `this` through `ServiceSchema<Settings, Methods>`, but a service's own
// methods would then be written twice (the object and its type). `defineService<Mixed>()(schema)`
// infers them from the schema instead: `this` in handlers, hooks and methods is the service with
// its settings, the methods its mixins bring (`Mixed`, e.g. TenantMethods; also the fields the
// service sets in `created()`) and its own.
// Curried because TypeScript cannot infer some type arguments while taking others explicitly.
//
// TypeScript settles the own methods' type the first time it needs `this` for a return value,
// reading the schema top to bottom. So, for them to be inferred: write `methods` before the
// actions and events, and give a method whose return value is read from `this` a return type;
// otherwise they fall back to `ServiceMethods` (any name compiles, every result is any).
// test/unit/define-service.test.ts checks it. Actions and lifecycle handlers take `this` from the
// schema's ThisType, not from moleculer's `this: TThis` parameter (ActionHandler,
// ServiceSyncLifecycleHandler), which settled the type before any method was read.

export type ServiceThis<S, M> = Service<S> & M;

type Handler = OmitThisParameter<ActionHandler>;
type Lifecycle = () => void | Promise<void>;

export function defineService<Mixed extends object = object>() {
	// `object`, not moleculer's ServiceSettingSchema: all its keys are optional, so settings sharing
	// none of them (`{ suffix: "!" }`) did not satisfy it and `this.settings` lost their type.
	return <S extends object, Own extends ServiceMethods>(
		schema: Omit<
			ServiceSchema<S, Mixed & NoInfer<Own>, object, ServiceThis<S, Mixed & NoInfer<Own>>>,
			"actions" | "methods" | "created" | "started" | "stopped"
		> & {
			actions?: Record<string, (Omit<ActionSchema, "handler"> & { handler?: Handler }) | Handler | boolean>;
			methods?: Own;
			created?: Lifecycle | Lifecycle[];
			started?: Lifecycle | Lifecycle[];
			stopped?: Lifecycle | Lifecycle[];
		} & ThisType<ServiceThis<S, Mixed & NoInfer<Own>>>
	): ServiceSchema<S> => schema as ServiceSchema<S>;
}
