import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { projectRoot } from "../../lib/ferretdb.ts";

// Debian's Chromium driven by playwright-core (no browser download): a fresh profile per
// suite, screenshots kept in the git-ignored test-artifacts/ for a person to look at.

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const ARTIFACTS = path.join(projectRoot, "test-artifacts");

const FLAGS = [
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
];

export interface TestBrowser {
	context: BrowserContext;
	page: Page;
	shot(name: string): Promise<string>;
	close(): Promise<void>;
}

export async function startBrowser(viewport = { width: 1280, height: 800 }): Promise<TestBrowser> {
	if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it)`);
	const profile = mkdtempSync(path.join(os.tmpdir(), "mktx-chromium-"));
	const context = await chromium.launchPersistentContext(profile, {
		executablePath: CHROMIUM,
		headless: true,
		args: FLAGS,
		viewport,
		locale: "vi-VN",
	});
	const page = context.pages()[0] ?? (await context.newPage());
	mkdirSync(ARTIFACTS, { recursive: true });
	return {
		context,
		page,
		async shot(name) {
			const file = path.join(ARTIFACTS, `${name}.png`);
			await page.screenshot({ path: file });
			return file;
		},
		async close() {
			await context.close();
			rmSync(profile, { recursive: true, force: true });
		},
	};
}
