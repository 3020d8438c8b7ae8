import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { serviceNames } from "../../lib/services.ts";

// docker-compose.yml cannot run here (no Docker engine), but the compose client can parse and
// validate it. .ci/run installs a client when the machine has none.

function composeConfig(): string {
	const env = { ...process.env, JWT_SECRET: "ci-secret", ENCRYPTION_KEY: "ab".repeat(32) };
	const plugin = spawnSync("docker", ["compose", "version"], { encoding: "utf8" });
	if (plugin.status === 0) return execFileSync("docker", ["compose", "-f", "docker-compose.yml", "config"], { env, encoding: "utf8" });
	return execFileSync("docker-compose", ["-f", "docker-compose.yml", "config"], { env, encoding: "utf8" });
}

test("docker-compose.yml is valid and splits mkt-x into gateway, core and worker nodes over NATS", () => {
	const config = composeConfig();
	for (const service of ["mongo", "nats", "gateway", "core", "worker"]) expect(config).toMatch(new RegExp(`^  ${service}:`, "m"));
	expect(config).toMatch(/image: mongo:7/);
	expect(config).toMatch(/TRANSPORTER: nats:\/\/nats:4222/);
	const known = serviceNames();
	const listed = [...config.matchAll(/SERVICES: (.+)/g)].flatMap(m => m[1].trim().replace(/['"]/g, "").split(","));
	expect(listed.length).toBeGreaterThan(2);
	for (const name of listed) expect(known).toContain(name);
	// and every service runs on some node
	expect([...new Set(listed), "api"].sort()).toEqual(expect.arrayContaining(known));
});

test("the Dockerfile builds on Node 24 and starts the same entry point as npm start", () => {
	const dockerfile = readFileSync("Dockerfile", "utf8");
	expect(dockerfile).toMatch(/^FROM node:24/m);
	const pkg = JSON.parse(readFileSync("package.json", "utf8"));
	expect(dockerfile).toContain(`CMD ["node", "${pkg.scripts.start.replace(/^(exec )?node /, "")}"]`);
});
