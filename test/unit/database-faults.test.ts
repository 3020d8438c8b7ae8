import { toErrorResponse } from "../../lib/http-errors.ts";

// A database that cannot do something now is a 503, never a 500 with internals: a read may be
// retried (Retry-After), a write may or may not have happened (OUTCOME_UNKNOWN, no hint).

const serverError = (code: number, name = "MongoServerError") => Object.assign(new Error("database is locked"), { name, code });

test.each([
	[1, "MongoServerError"],
	[112, "MongoServerError"],
	[11600, "MongoServerError"],
	[1, "MongoBulkWriteError"],
])("a %s (%s) from the database answers 503, never 500", (code, name) => {
	const read = toErrorResponse(serverError(code, name), "en");
	expect(read.status).toBe(503);
	expect(read.body.errorCode).toBe("SERVICE_UNAVAILABLE");
	const write = toErrorResponse(serverError(code, name), "en", { write: true });
	expect(write.status).toBe(503);
	expect(write.body.errorCode).toBe("OUTCOME_UNKNOWN");
	expect(JSON.stringify(write.body)).not.toContain("locked");
});

test("a server error that is a bug (a bad query) stays a 500 without internals", () => {
	const res = toErrorResponse(serverError(2), "en");
	expect(res.status).toBe(500);
	expect(JSON.stringify(res.body)).not.toContain("locked");
});
