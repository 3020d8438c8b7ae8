import type { Service, ServiceMethods, ServiceSchema, ServiceSettingSchema } from "moleculer";

// The 0.15 template types `this` through `ServiceSchema<Settings, Methods>`, but a service's own
// methods would then be written twice (the object and its type). `defineService<Mixed>()(schema)`
// infers them from the schema instead: `this` in handlers, hooks and methods is the service with
// its settings, the methods its mixins bring (`Mixed`, e.g. TenantMethods) and its own.
// Curried because TypeScript cannot infer some type arguments while taking others explicitly.

export type ServiceThis<S, M> = Service<S> & M;

export function defineService<Mixed extends object = object>() {
	return <S extends ServiceSettingSchema, Own extends ServiceMethods>(
		schema: Omit<ServiceSchema<S, Mixed & NoInfer<Own>, object, ServiceThis<S, Mixed & NoInfer<Own>>>, "methods"> & {
			methods?: Own & ThisType<ServiceThis<S, Mixed & NoInfer<Own>>>;
		}
	): ServiceSchema<S> => schema as ServiceSchema<S>;
}
