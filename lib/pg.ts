import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from "node:crypto";
import { connect, type Socket } from "node:net";

// Just enough of the PostgreSQL wire protocol (v3, simple queries) for the embedded engine's
// housekeeping: is a server there, create or drop a database, create indexes. Written here rather
// than taken from `pg` or `psql` so the start needs neither an npm dependency nor a client binary
// on the machine (PostgreSQL may be a container or another host). Authentication: trust,
// password, md5 and SCRAM-SHA-256 (PostgreSQL 14+'s default); no TLS (loopback or a private
// network; FerretDB itself connects with pgx, which honours `sslmode` in the same URL).

export class PgError extends Error {
	/** SQLSTATE, e.g. 42P04 (duplicate_database); empty for connection failures. */
	readonly code: string;

	constructor(message: string, code = "") {
		super(message);
		this.code = code;
	}
}

export interface PgTarget {
	host: string;
	port: number;
	user: string;
	password: string;
	database: string;
}

/** The parts of a `postgres://user:password@host:port/database?…` URL this client uses. */
export function parsePgUrl(url: string): PgTarget {
	const u = new URL(url);
	if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") throw new PgError(`not a postgres:// URL: ${redactPgUrl(url)}`);
	return {
		host: u.hostname || "127.0.0.1",
		port: Number(u.port || 5432),
		user: decodeURIComponent(u.username || "postgres"),
		password: decodeURIComponent(u.password),
		database: decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username || "postgres"),
	};
}

/** The URL without its password, for logs. */
export function redactPgUrl(url: string): string {
	return url.replace(/\/\/([^:/@]*):[^@/]*@/, "//$1:***@");
}

/** A string as an SQL literal or identifier (standard_conforming_strings is on since 9.1). */
export const sqlLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;
export const sqlIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

type Rows = (string | null)[][];

export class PgClient {
	private buffer = Buffer.alloc(0);
	private waiters: (() => void)[] = [];
	private closed: Error | null = null;
	private readonly socket: Socket;

	private constructor(socket: Socket) {
		this.socket = socket;
		socket.on("data", chunk => {
			this.buffer = Buffer.concat([this.buffer, chunk]);
			this.wake();
		});
		socket.on("error", err => this.fail(new PgError(err.message)));
		socket.on("close", () => this.fail(new PgError("connection closed by the server")));
	}

	static async connect(url: string, timeoutMs = 3000): Promise<PgClient> {
		const target = parsePgUrl(url);
		const socket = connect({ host: target.host, port: target.port });
		const timer = setTimeout(
			() => socket.destroy(new Error(`no answer from ${target.host}:${target.port} within ${timeoutMs} ms`)),
			timeoutMs
		);
		const client = new PgClient(socket);
		try {
			await new Promise<void>((resolve, reject) => {
				socket.once("connect", resolve);
				socket.once("error", reject);
			});
			await client.startup(target);
			return client;
		} catch (err) {
			socket.destroy();
			throw err instanceof PgError ? err : new PgError((err as Error).message);
		} finally {
			clearTimeout(timer);
		}
	}

	/** Runs one or more statements; answers the rows of the last one that returned rows. */
	async query(sql: string): Promise<Rows> {
		this.send("Q", Buffer.from(`${sql}\0`));
		let rows: Rows = [];
		let current: Rows = [];
		let error: PgError | null = null;
		for (;;) {
			const { type, body } = await this.read();
			if (type === "T") current = [];
			else if (type === "D") current.push(readDataRow(body));
			else if (type === "C" && current.length) rows = current;
			else if (type === "E") error = readError(body);
			else if (type === "Z") break;
		}
		if (error) throw error;
		return rows.length ? rows : current;
	}

	async close(): Promise<void> {
		if (this.closed) return;
		this.send("X", Buffer.alloc(0));
		await new Promise<void>(resolve => this.socket.end(resolve));
		this.socket.destroy();
	}

	private async startup(t: PgTarget): Promise<void> {
		const params = Buffer.from(`user\0${t.user}\0database\0${t.database}\0application_name\0mkt-x\0\0`);
		const head = Buffer.alloc(8);
		head.writeInt32BE(8 + params.length, 0);
		head.writeInt32BE(196608, 4); // protocol 3.0
		this.socket.write(Buffer.concat([head, params]));
		let scram: Scram | null = null;
		for (;;) {
			const { type, body } = await this.read();
			if (type === "E") throw readError(body);
			if (type === "Z") return;
			if (type !== "R") continue; // parameter status, backend key data, notices
			const kind = body.readInt32BE(0);
			if (kind === 0) continue;
			if (kind === 3) this.send("p", Buffer.from(`${t.password}\0`));
			else if (kind === 5) {
				const inner = md5Hex(t.password + t.user);
				this.send("p", Buffer.from(`md5${md5Hex(Buffer.concat([Buffer.from(inner), body.subarray(4, 8)]))}\0`));
			} else if (kind === 10) {
				if (!body.includes("SCRAM-SHA-256\0")) throw new PgError("the server offers no SASL mechanism this client speaks");
				scram = new Scram(t.password);
				const first = Buffer.from(scram.clientFirst());
				const len = Buffer.alloc(4);
				len.writeInt32BE(first.length);
				this.send("p", Buffer.concat([Buffer.from("SCRAM-SHA-256\0"), len, first]));
			} else if (kind === 11 && scram) this.send("p", Buffer.from(scram.clientFinal(body.subarray(4).toString())));
			else if (kind === 12 && scram) scram.verifyServer(body.subarray(4).toString());
			else throw new PgError(`unsupported authentication request ${kind} (use trust, password, md5 or scram-sha-256)`);
		}
	}

	private send(type: string, body: Buffer) {
		const head = Buffer.alloc(5);
		head.write(type, 0);
		head.writeInt32BE(body.length + 4, 1);
		this.socket.write(Buffer.concat([head, body]));
	}

	private async read(): Promise<{ type: string; body: Buffer }> {
		for (;;) {
			if (this.buffer.length >= 5) {
				const len = this.buffer.readInt32BE(1);
				if (this.buffer.length >= len + 1) {
					const type = String.fromCharCode(this.buffer[0]!);
					const body = this.buffer.subarray(5, len + 1);
					this.buffer = this.buffer.subarray(len + 1);
					return { type, body };
				}
			}
			if (this.closed) throw this.closed;
			await new Promise<void>(resolve => this.waiters.push(resolve));
		}
	}

	private wake() {
		for (const w of this.waiters.splice(0)) w();
	}

	private fail(err: Error) {
		this.closed ??= err;
		this.wake();
	}
}

/** Connects, runs `sql`, disconnects. */
export async function pgQuery(url: string, sql: string): Promise<Rows> {
	const client = await PgClient.connect(url);
	try {
		return await client.query(sql);
	} finally {
		await client.close();
	}
}

function readDataRow(body: Buffer): (string | null)[] {
	const n = body.readInt16BE(0);
	const row: (string | null)[] = [];
	let at = 2;
	for (let i = 0; i < n; i++) {
		const len = body.readInt32BE(at);
		at += 4;
		if (len < 0) row.push(null);
		else {
			row.push(body.toString("utf8", at, at + len));
			at += len;
		}
	}
	return row;
}

function readError(body: Buffer): PgError {
	const fields: Record<string, string> = {};
	let at = 0;
	while (at < body.length && body[at] !== 0) {
		const key = String.fromCharCode(body[at]!);
		const end = body.indexOf(0, at + 1);
		fields[key] = body.toString("utf8", at + 1, end);
		at = end + 1;
	}
	return new PgError(fields.M ?? "PostgreSQL error", fields.C ?? "");
}

const md5Hex = (data: string | Buffer) => createHash("md5").update(data).digest("hex");
const hmac = (key: Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/**
 * RFC 5802 / 7677 client side, without channel binding (no TLS here). PostgreSQL ignores the
 * SCRAM user name (it has it from the start-up message), hence the empty default.
 */
export class Scram {
	private authMessage = "";
	private saltedPassword = Buffer.alloc(0);
	private readonly password: string;
	private readonly nonce: string;
	private readonly user: string;

	constructor(password: string, nonce = randomBytes(18).toString("base64"), user = "") {
		this.password = password;
		this.nonce = nonce;
		this.user = user;
	}

	clientFirst(): string {
		return `n,,n=${this.user},r=${this.nonce}`;
	}

	clientFinal(serverFirst: string): string {
		const attrs = Object.fromEntries(serverFirst.split(",").map(kv => [kv[0], kv.slice(2)]));
		if (!attrs.r?.startsWith(this.nonce) || !attrs.s || !attrs.i) throw new PgError("malformed SCRAM challenge from the server");
		this.saltedPassword = pbkdf2Sync(this.password.normalize("NFKC"), Buffer.from(attrs.s, "base64"), Number(attrs.i), 32, "sha256");
		const withoutProof = `c=biws,r=${attrs.r}`;
		this.authMessage = `n=${this.user},r=${this.nonce},${serverFirst},${withoutProof}`;
		const clientKey = hmac(this.saltedPassword, "Client Key");
		const signature = hmac(createHash("sha256").update(clientKey).digest(), this.authMessage);
		const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
		return `${withoutProof},p=${proof.toString("base64")}`;
	}

	verifyServer(serverFinal: string) {
		const expected = hmac(hmac(this.saltedPassword, "Server Key"), this.authMessage);
		const got = Buffer.from(serverFinal.replace(/^v=/, "").split(",")[0]!, "base64");
		if (got.length !== expected.length || !timingSafeEqual(got, expected)) throw new PgError("the server's SCRAM signature does not match");
	}
}
