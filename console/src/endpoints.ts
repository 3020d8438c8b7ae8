// Every call the console makes to the public API, as "METHOD /path" of the OpenAPI document
// (GET /api/v1/mkt-x/openapi.json). api.ts only accepts these, so the type checker finds a
// call outside the list, and test/integration/console-api.test.ts finds one the gateway lacks.
export const ENDPOINTS = [
	"GET /accounts",
	"POST /accounts",
	"GET /accounts/:id",
	"PUT /accounts/:id",
	"GET /ai/accounts/:accountId/config",
	"PUT /ai/accounts/:accountId/config",
	"GET /conversations",
	"GET /conversations/:id",
	"POST /conversations/:id/messages",
	"POST /conversations/:id/assign",
	"PUT /conversations/:id/close",
	"GET /contacts",
	"GET /contacts/export",
	"GET /contacts/:id",
	"DELETE /contacts/:id",
	"PUT /contacts/:id/attributes",
	"POST /contacts/:id/tags",
	"DELETE /contacts/:id/tags/:tagName",
	"POST /contacts/:id/opt-out",
	"POST /contacts/:id/opt-in",
	"GET /templates",
	"POST /templates",
	"PUT /templates/:id",
	"POST /templates/:id/preview",
	"GET /segments",
	"POST /segments",
	"POST /segments/evaluate",
	"GET /campaigns",
	"POST /campaigns",
	"GET /campaigns/:id",
	"GET /campaigns/:id/metrics",
	"POST /campaigns/:id/preview-launch",
	"POST /campaigns/:id/start",
	"POST /campaigns/:id/pause",
	"POST /campaigns/:id/resume",
	"POST /campaigns/:id/cancel",
	"GET /automation/flows",
	"POST /automation/flows",
	"GET /automation/flows/:id/runs",
	"POST /automation/flows/:id/activate",
	"POST /automation/flows/:id/deactivate",
	"GET /analytics/overview",
	"GET /analytics/contacts",
	"GET /analytics/conversations",
	"GET /analytics/campaigns",
] as const;

export type Endpoint = (typeof ENDPOINTS)[number];

/** The live stream is not an action (no schema), but it is in the document too. */
export const EVENTS_PATH = "/events";
export const API_BASE = "/api/v1/mkt-x";
