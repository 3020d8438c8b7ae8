import { PgError, Scram, parsePgUrl, redactPgUrl } from "../../lib/pg.ts";

// The SCRAM exchange is checked against RFC 7677's own SCRAM-SHA-256 example: the machine's
// PostgreSQL trusts loopback, so the integration tests never reach this branch.
describe("lib/pg SCRAM-SHA-256", () => {
	const serverFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

	test("computes the RFC 7677 client proof and accepts the server's signature", () => {
		const scram = new Scram("pencil", "rOprNGfwEbeRWgbNEkqO", "user");
		expect(scram.clientFirst()).toBe("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
		expect(scram.clientFinal(serverFirst)).toBe(
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
		);
		expect(() => scram.verifyServer("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")).not.toThrow();
	});

	test("refuses a server that does not know the password", () => {
		const scram = new Scram("pencil", "rOprNGfwEbeRWgbNEkqO", "user");
		scram.clientFinal(serverFirst);
		expect(() => scram.verifyServer("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")).toThrow(PgError);
	});

	test("refuses a challenge that does not extend the client's nonce", () => {
		expect(() => new Scram("pencil", "abc").clientFinal("r=xyz,s=AAAA,i=4096")).toThrow(PgError);
	});
});

describe("lib/pg URLs", () => {
	test("reads user, password, host, port and database, and hides the password in logs", () => {
		const url = "postgres://app:s%40cret@db.local:6543/mktx?pool_max_conns=45";
		expect(parsePgUrl(url)).toEqual({ host: "db.local", port: 6543, user: "app", password: "s@cret", database: "mktx" });
		expect(redactPgUrl(url)).toBe("postgres://app:***@db.local:6543/mktx?pool_max_conns=45");
	});
});
