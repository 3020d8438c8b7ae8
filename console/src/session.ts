// The signed-in token, kept in sessionStorage (closing the tab signs out). The claims are read
// only to label the screen and hide write buttons from a viewer; the API decides for real.

export interface Session {
	token: string;
	merchantId: string;
	userId: string;
	roles: string[];
	readOnly: boolean;
}

let current: Session | null = load();

function decode(token: string): Session | null {
	const part = token.split(".")[1];
	if (!part) return null;
	try {
		const json = decodeURIComponent(escape(atob(part.replace(/-/g, "+").replace(/_/g, "/"))));
		const claims = JSON.parse(json) as { merchantId?: unknown; sub?: unknown; roles?: unknown };
		if (typeof claims.merchantId !== "string") return null;
		const roles = Array.isArray(claims.roles) ? claims.roles.filter((r): r is string => typeof r === "string") : [];
		return {
			token,
			merchantId: claims.merchantId,
			userId: typeof claims.sub === "string" ? claims.sub : "",
			roles,
			readOnly: roles.length > 0 && roles.every(r => r === "viewer"),
		};
	} catch {
		return null;
	}
}

function load(): Session | null {
	const token = sessionStorage.getItem("mktx.token");
	return token ? decode(token) : null;
}

export function session(): Session | null {
	return current;
}

/** Null when the text is not a token of this API's shape. */
export function signIn(token: string): Session | null {
	const next = decode(token.trim());
	if (!next) return null;
	current = next;
	sessionStorage.setItem("mktx.token", next.token);
	return next;
}

export function signOut() {
	current = null;
	sessionStorage.removeItem("mktx.token");
}
