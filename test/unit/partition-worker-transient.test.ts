import { isTransient } from "../../mixins/partition-worker.mixin.ts";

// A batch that failed for a transient reason is retried as it is; any other failure counts an
// attempt against its rows and isolates them one by one (a bad row is set aside after 10).
// FerretDB passes its backend's outages on as internal errors: they must not count.

test.each([
	["a lost lease", Object.assign(new Error("lease lost"), { name: "LeaseLostError" })],
	["the driver's network error", Object.assign(new Error("socket closed"), { name: "MongoNetworkError" })],
	["a moleculer timeout", Object.assign(new Error("timed out"), { name: "RequestTimeoutError" })],
	[
		"PostgreSQL refusing connections behind FerretDB",
		Object.assign(
			new Error(
				"[msg_update.go:133 handler.(*Handler).updateDocument] [collection.go:227 postgresql.(*collection).UpdateAll] failed to connect to `user=postgres database=mktx`: server error (FATAL: sorry, too many clients already (SQLSTATE 53300))"
			),
			{ name: "MongoServerError", code: 1 }
		),
	],
	[
		"PostgreSQL restarting",
		Object.assign(new Error("FATAL: the database system is shutting down (SQLSTATE 57P03)"), { name: "MongoServerError" }),
	],
])("%s is transient", (_what, err) => {
	expect(isTransient(err)).toBe(true);
});

test.each([
	["a validation error", Object.assign(new Error("Path `text` is required."), { name: "ValidationError" })],
	["a duplicate key", Object.assign(new Error("E11000 duplicate key error"), { name: "MongoServerError", code: 11000 })],
	["a bug", new TypeError("Cannot read properties of undefined (reading 'id')")],
])("%s is not transient", (_what, err) => {
	expect(isTransient(err)).toBe(false);
});
