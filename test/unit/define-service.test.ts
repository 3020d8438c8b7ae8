import { ServiceBroker, type Context } from "moleculer";
import { defineService } from "../../lib/service.ts";

// lib/service.ts: `this` in a schema written as it asks (methods before the handlers) is the
// service with its settings, its mixins' methods, the fields it sets and its own methods, each with
// its type. `npm run typecheck` checks the two directives below (and the settings' key): they fail
// it if the own methods are inferred as moleculer's ServiceMethod again (any name would compile,
// every result be any), as they were while actions took `this` from moleculer's `this` parameter.

const Probe = defineService<{ greeting(): string; mark: string }>()({
	name: "typed-probe",
	settings: { suffix: "!" },
	mixins: [{ methods: { greeting: () => "hello" } }],
	created() {
		this.mark = ",";
	},
	methods: {
		shout(text: string) {
			return text.toUpperCase();
		},
	},
	actions: {
		hello: {
			handler(ctx: Context<{ name: string }>) {
				// @ts-expect-error the service has no method `whisper`
				void this.whisper;
				// @ts-expect-error `shout` answers a string
				const length: number = this.shout("");
				void length;
				return this.shout(`${this.greeting()} ${ctx.params.name}${this.mark}${this.settings.suffix}`);
			},
		},
	},
});

test("a service defined with defineService runs with its settings, its mixins' methods, its own and the fields created() sets", async () => {
	const broker = new ServiceBroker({ logger: false });
	broker.createService(Probe);
	await broker.start();
	try {
		expect(await broker.call("typed-probe.hello", { name: "An" })).toBe("HELLO AN,!");
	} finally {
		await broker.stop();
	}
});
