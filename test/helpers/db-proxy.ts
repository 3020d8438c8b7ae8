import { connect, createServer, type Server, type Socket } from "node:net";

/**
 * A TCP proxy in front of the test run's database, for faults: `stall()` holds every byte (a
 * database that accepts and never answers), `cut()` drops every connection (the database
 * process died), `resume()` lets traffic through again.
 */
export class DbProxy {
	private readonly sockets = new Set<Socket>();
	private held: (() => void)[] = [];
	private stalled = false;
	private delayMs = 0;
	private server!: Server;
	port = 0;

	private readonly host: string;
	private readonly upstreamPort: number;

	private constructor(host: string, upstreamPort: number) {
		this.host = host;
		this.upstreamPort = upstreamPort;
	}

	/** @param mongoBase the run's database URL, e.g. mongodb://127.0.0.1:40123/ */
	static async start(mongoBase: string): Promise<DbProxy> {
		const { hostname, port } = new URL(mongoBase);
		const proxy = new DbProxy(hostname, Number(port));
		proxy.server = createServer(client => proxy.accept(client));
		await new Promise<void>(resolve => proxy.server.listen(0, "127.0.0.1", resolve));
		proxy.port = (proxy.server.address() as { port: number }).port;
		return proxy;
	}

	/** The URL of database `name` through the proxy. */
	url(name: string): string {
		return `mongodb://127.0.0.1:${this.port}/${name}`;
	}

	/** How many chunks are being held (requests the database "received" and does not answer). */
	get heldCount(): number {
		return this.held.length;
	}

	delay(ms: number) {
		this.delayMs = ms;
	}

	stall() {
		this.stalled = true;
	}

	resume() {
		this.stalled = false;
		const held = this.held;
		this.held = [];
		for (const send of held) send();
	}

	cut() {
		this.held = [];
		for (const socket of this.sockets) socket.destroy();
		this.sockets.clear();
	}

	async close() {
		this.cut();
		await new Promise(resolve => this.server.close(resolve));
	}

	private accept(client: Socket) {
		const upstream = connect(this.upstreamPort, this.host);
		for (const s of [client, upstream]) {
			this.sockets.add(s);
			s.on("error", () => {});
			s.on("close", () => {
				this.sockets.delete(client);
				this.sockets.delete(upstream);
				client.destroy();
				upstream.destroy();
			});
		}
		const forward = (from: Socket, to: Socket) =>
			from.on("data", chunk => {
				if (this.stalled) this.held.push(() => to.write(chunk));
				// Timers of one delay fire in the order they were set: the stream keeps its order.
				else if (this.delayMs) setTimeout(() => to.write(chunk), this.delayMs);
				else to.write(chunk);
			});
		forward(client, upstream);
		forward(upstream, client);
	}
}
