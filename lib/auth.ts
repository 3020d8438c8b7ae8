import jwt from "jsonwebtoken";
import type { Config } from "./config.ts";
import { UnauthorizedError } from "./errors.ts";

export interface TokenClaims {
	merchantId: string;
	userId?: string;
	roles: string[];
}

/**
 * Verifies a bearer token issued by the platform's IAM. The algorithm is pinned by the key we
 * hold (HS256 with a secret, RS256 with a public key), so `alg: none` or a token signed some
 * other way is refused; expiry, issuer and audience are enforced.
 */
export function verifyToken(token: string, jwtConfig: Config["jwt"]): TokenClaims {
	const key = jwtConfig.publicKey || jwtConfig.secret;
	const algorithms: jwt.Algorithm[] = jwtConfig.publicKey ? ["RS256"] : ["HS256"];
	let payload: jwt.JwtPayload | string;
	try {
		payload = jwt.verify(token, key, {
			algorithms,
			issuer: jwtConfig.issuer,
			audience: jwtConfig.audience,
		});
	} catch (err) {
		if (err instanceof jwt.TokenExpiredError) throw new UnauthorizedError("Token expired");
		throw new UnauthorizedError("Invalid token");
	}
	if (typeof payload !== "object" || typeof payload.merchantId !== "string" || !payload.merchantId.trim()) {
		throw new UnauthorizedError("Token has no merchantId");
	}
	const roles = Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === "string") : [];
	return { merchantId: payload.merchantId, userId: typeof payload.sub === "string" ? payload.sub : undefined, roles };
}

export function signToken(
	claims: { merchantId: string; userId?: string; roles?: string[] },
	jwtConfig: Config["jwt"],
	expiresIn: jwt.SignOptions["expiresIn"] = "12h"
): string {
	if (!jwtConfig.secret) throw new Error("Signing needs JWT_SECRET (with JWT_PUBLIC_KEY only, tokens come from IAM)");
	return jwt.sign({ merchantId: claims.merchantId, roles: claims.roles ?? [] }, jwtConfig.secret, {
		algorithm: "HS256",
		expiresIn,
		...(claims.userId ? { subject: claims.userId } : {}),
		...(jwtConfig.issuer ? { issuer: jwtConfig.issuer } : {}),
		...(jwtConfig.audience ? { audience: jwtConfig.audience } : {}),
	});
}
