export default async function globalTeardown() {
	await globalThis.__FERRETDB__?.stop();
}
