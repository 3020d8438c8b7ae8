import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

// Secrets at rest (OAuth tokens and token secrets): AES-256-GCM with the 32-byte ENCRYPTION_KEY.
// Stored as "v1:<iv>:<tag>:<ciphertext>" in base64url, so a later key rotation can add "v2".

export function encryptSecret(plain: string, key: Buffer): string {
	const iv = randomBytes(12);
	const cipher = createCipheriv("aes-256-gcm", key, iv);
	const data = Buffer.concat([cipher.update(plain, "utf8"), cipher.final()]);
	const tag = cipher.getAuthTag();
	return ["v1", iv.toString("base64url"), tag.toString("base64url"), data.toString("base64url")].join(":");
}

export function decryptSecret(stored: string, key: Buffer): string {
	const [version, iv, tag, data] = stored.split(":");
	if (version !== "v1" || !iv || !tag || data === undefined) throw new Error("Unreadable encrypted secret");
	const decipher = createDecipheriv("aes-256-gcm", key, Buffer.from(iv, "base64url"));
	decipher.setAuthTag(Buffer.from(tag, "base64url"));
	return Buffer.concat([decipher.update(Buffer.from(data, "base64url")), decipher.final()]).toString("utf8");
}
