// Printed at the top of `npm test`, so every run's log says what it ran on.
console.log(`mkt-x tests on Node ${process.version} (${process.platform}/${process.arch})`);
if (Number(process.versions.node.split(".")[0]) < 22) {
	console.error("Node 22+ is required: run through npm (the pinned `node` devDependency), not a global jest.");
	process.exit(1);
}
