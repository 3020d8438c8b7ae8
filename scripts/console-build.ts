// `npm run console:build`: console/src → console/dist, no bundler. Each TypeScript module has
// its types stripped by Node's own stripper (the same one that runs the server) and its
// "./x.ts" imports pointed at "./x.js"; the browser loads the ES modules as they are. The
// charting library is copied from node_modules: nothing is fetched at run time.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire, stripTypeScriptTypes } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const src = path.join(root, "console", "src");
const require = createRequire(import.meta.url);
const uplotDir = path.dirname(require.resolve("uplot/package.json"));

function files(dir: string): string[] {
	return readdirSync(dir).flatMap(name => {
		const full = path.join(dir, name);
		return statSync(full).isDirectory() ? files(full) : [full];
	});
}

export function buildConsole(out = path.join(root, "console", "dist")): { files: number; bytes: number } {
	rmSync(out, { recursive: true, force: true });
	let count = 0;
	let bytes = 0;
	const write = (file: string, content: string | Buffer) => {
		mkdirSync(path.dirname(file), { recursive: true });
		writeFileSync(file, content);
		count++;
		bytes += content.length;
	};
	for (const file of files(src)) {
		const rel = path.relative(src, file);
		if (file.endsWith(".ts")) {
			const js = stripTypeScriptTypes(readFileSync(file, "utf8"), { mode: "strip" }).replace(
				/(from\s+|import\s*\(\s*)"(\.{1,2}\/[^"]+)\.ts"/g,
				'$1"$2.js"'
			);
			write(path.join(out, rel.replace(/\.ts$/, ".js")), js);
		} else {
			write(path.join(out, rel), readFileSync(file));
		}
	}
	mkdirSync(path.join(out, "vendor"), { recursive: true });
	for (const name of ["uPlot.esm.js", "uPlot.min.css"]) {
		cpSync(path.join(uplotDir, "dist", name), path.join(out, "vendor", name));
		count++;
		bytes += statSync(path.join(out, "vendor", name)).size;
	}
	return { files: count, bytes };
}

if (import.meta.url === `file://${process.argv[1]}`) {
	const { files: n, bytes } = buildConsole();
	console.log(`console built: ${n} files, ${Math.round(bytes / 1024)} KiB in console/dist`);
}
