import type { IncomingMessage, ServerResponse } from "node:http";
import type { ServiceSchema } from "moleculer";
import ApiGateway from "moleculer-web";
import { toErrorResponse } from "../lib/http-errors.ts";
import { localeOf } from "../lib/i18n.ts";
import { ServiceUnavailableError } from "../lib/errors.ts";

// For the gateway: stop means stop. From the local event `mktx.draining` (bin/start.ts broadcasts
// it before broker.stop()) or once the broker itself is stopping, every new request answers 503
// with `Connection: close`, so clients and load balancers go elsewhere at once, while requests
// already in flight finish (the broker's context tracking waits for them). /health/ready says
// "draining" itself; /health/live stays up (the process is alive until it exits).

type HttpHandler = (req: IncomingMessage, res: ServerResponse, next?: unknown) => Promise<void>;
const gatewayHttpHandler = (ApiGateway as unknown as { methods: { httpHandler: HttpHandler } }).methods.httpHandler;

export const DrainMixin: Partial<ServiceSchema> = {
	events: {
		"mktx.draining": {
			handler(this: any) {
				if (!this.draining) this.logger.info("draining: new requests answer 503, requests in flight finish");
				this.draining = true;
			},
		},
	},

	methods: {
		isDraining(this: any): boolean {
			return Boolean(this.draining || this.broker.stopping);
		},

		httpHandler(this: any, req: IncomingMessage, res: ServerResponse, next?: unknown) {
			if (this.isDraining() && !req.url?.startsWith("/health/")) {
				const response = toErrorResponse(
					new ServiceUnavailableError("This node is shutting down, try again"),
					localeOf(req.headers["accept-language"])
				);
				res.writeHead(response.status, {
					...response.headers,
					"Content-Type": "application/json; charset=utf-8",
					Connection: "close",
				});
				res.end(JSON.stringify(response.body));
				return Promise.resolve();
			}
			return gatewayHttpHandler.call(this, req, res, next);
		},
	},
};
