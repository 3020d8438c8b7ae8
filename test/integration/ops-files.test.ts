import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { serviceNames } from "../../lib/services.ts";
import { retryWritesFor } from "../../lib/db.ts";

// docker-compose.yml cannot run here (no Docker engine). Its structure, what the project relies
// on, is checked from the YAML itself on any machine; a compose client, when there is one, also
// validates it against the Compose schema and resolves its variables (.ci/run installs one).

type ComposeService = {
	image?: string;
	build?: unknown;
	command?: unknown;
	environment?: Record<string, string>;
	depends_on?: Record<string, { condition: string }> | string[];
	healthcheck?: { test: string[] };
};

const compose = parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as { services: Record<string, ComposeService> };
const services = compose.services;
const nodes = ["gateway", "core", "worker"];

function composeClient(): string[] | null {
	if (spawnSync("docker", ["compose", "version"], { encoding: "utf8" }).status === 0) return ["docker", "compose"];
	if (spawnSync("docker-compose", ["version"], { encoding: "utf8" }).status === 0) return ["docker-compose"];
	return null;
}

test("docker-compose.yml splits mkt-x into gateway, core and worker nodes over NATS, each service placed", () => {
	expect(Object.keys(services).sort()).toEqual(["core", "gateway", "mongo", "nats", "worker"]);
	expect(services.mongo.image).toBe("mongo:7");
	expect(services.nats.image).toMatch(/^nats:2/);
	expect(services.nats.command).toContain("-js");
	const known = serviceNames();
	const listed: string[] = [];
	for (const name of nodes) {
		const env = services[name].environment ?? {};
		expect({ name, image: services[name].image, built: services[name].build !== undefined }).toEqual({
			name,
			image: "mkt-x:latest",
			built: true,
		});
		expect(env).toMatchObject({ NODE_ENV: "production", TRANSPORTER: "nats://nats:4222", NODE_ID: name });
		expect(env.MONGO_URL).toMatch(/^mongodb:\/\/mongo:27017\//);
		// Secrets are required from the environment, never written in the file.
		expect(env.JWT_SECRET).toMatch(/^\$\{JWT_SECRET:\?/);
		expect(env.ENCRYPTION_KEY).toMatch(/^\$\{ENCRYPTION_KEY:\?/);
		listed.push(...String(env.SERVICES).split(","));
	}
	for (const name of listed) expect(known).toContain(name);
	expect(services.gateway.environment?.SERVICES).toBe("api");
	// every service runs on exactly one node
	expect([...listed].sort()).toEqual([...known].sort());
});

test("the mkt-x nodes wait for a healthy MongoDB and for NATS; MongoDB and the gateway have health checks", () => {
	for (const name of nodes) {
		expect(services[name].depends_on).toEqual({ mongo: { condition: "service_healthy" }, nats: { condition: "service_started" } });
	}
	expect(services.mongo.healthcheck?.test.join(" ")).toMatch(/mongosh .*ping/);
	expect(services.gateway.healthcheck?.test.join(" ")).toContain("/health/ready");
});

test("MongoDB runs as replica set rs0, initiated once by its health check, and the app names the set (failover, retryable writes)", () => {
	const command = services.mongo.command as string[];
	expect(command.slice(command.indexOf("--replSet"), command.indexOf("--replSet") + 2)).toEqual(["--replSet", "rs0"]);
	const check = services.mongo.healthcheck!.test.join(" ");
	// Initiated only when the set is not (rs.status throws), with the name the app's nodes reach it by.
	expect(check).toMatch(/catch \(e\) \{ rs\.initiate\(\{ _id: 'rs0', members: \[\{ _id: 0, host: 'mongo:27017' \}\] \}\)/);
	// Healthy only once this member is the primary: the app's first writes have somewhere to go.
	expect(check).toMatch(/isWritablePrimary \|\| quit\(1\)/);
	for (const name of nodes) {
		const url = new URL(services[name].environment!.MONGO_URL);
		expect({ name, replicaSet: url.searchParams.get("replicaSet"), retryWrites: retryWritesFor(url.href) }).toEqual({
			name,
			replicaSet: "rs0",
			retryWrites: true,
		});
	}
});

test("retryable writes are on unless the connection string turns them off", () => {
	expect(retryWritesFor("mongodb://mongo:27017/mktx?replicaSet=rs0")).toBe(true);
	expect(retryWritesFor("mongodb://127.0.0.1:27017/mktx")).toBe(true);
	expect(retryWritesFor("mongodb://127.0.0.1:27017/mktx?retryWrites=false")).toBe(false);
	expect(retryWritesFor("mongodb://a:1,b:2/mktx?replicaSet=rs0&retryWrites=false&w=majority")).toBe(false);
});

test("a compose client, when the machine has one, accepts the file (else the run says what went unchecked)", () => {
	const client = composeClient();
	if (!client) {
		process.stderr.write(
			"ops-files: no compose client (docker compose / docker-compose): the Compose schema and the variable interpolation of docker-compose.yml were not checked; its YAML and structure were.\n"
		);
		expect(spawnSync("docker-compose", ["version"]).status).not.toBe(0);
		return;
	}
	const env = { ...process.env, JWT_SECRET: "ci-secret", ENCRYPTION_KEY: "ab".repeat(32) };
	const [cmd, ...args] = client;
	// YAML, the default of both compose v1 (docker-compose 1.29 has no --format) and v2.
	const resolved = parse(execFileSync(cmd, [...args, "-f", "docker-compose.yml", "config"], { env, encoding: "utf8" })) as {
		services: Record<string, ComposeService>;
	};
	expect(Object.keys(resolved.services).sort()).toEqual(Object.keys(services).sort());
	expect(resolved.services.core.environment?.JWT_SECRET).toBe("ci-secret");
	expect(resolved.services.mongo.command).toEqual(services.mongo.command);
});

test("the Dockerfile builds on Node 24 and starts the same entry point as npm start", () => {
	const dockerfile = readFileSync("Dockerfile", "utf8");
	expect(dockerfile).toMatch(/^FROM node:24/m);
	const pkg = JSON.parse(readFileSync("package.json", "utf8"));
	expect(dockerfile).toContain(`CMD ["node", "${pkg.scripts.start.replace(/^(exec )?node /, "")}"]`);
});
