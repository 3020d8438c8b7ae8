import type { ErrorDetail } from "../../lib/errors.ts";
import { attributeKeyProblem } from "../contacts/attributes.ts";
import { foldText } from "../contacts/opt-out.ts";
import { conditionProblems } from "../segments/compile.ts";
import { isBuiltinVariable, placeholdersOf, type RenderableTemplate } from "../templates/render.ts";

// What a flow is: a trigger and a list of nodes (a condition holds two more lists). This module
// checks a definition and names every problem by its place (`nodes[3].then[0].duration`), so a
// merchant sees all of them at once; the service looks the templates up and passes them in.

export const TRIGGER_TYPES = ["contact_created", "message_received", "tag_added", "conversation_closed", "campaign_replied"] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];
export const NODE_TYPES = [
	"send_message",
	"wait",
	"add_tag",
	"remove_tag",
	"set_attribute",
	"assign_conversation",
	"close_conversation",
	"condition",
] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export const MAX_NODES = 100;
/** Conditions inside conditions: a flow a person can still read. */
export const MAX_DEPTH = 5;
export const MAX_DURATION_SECONDS = 90 * 86_400;
const MAX_KEYWORDS = 50;
const MAX_ROUND_ROBIN = 50;

export interface FlowNode {
	type: NodeType;
	id?: string;
	delay?: number;
	templateId?: string;
	variables?: Record<string, unknown>;
	duration?: number;
	tag?: string;
	key?: string;
	value?: unknown;
	userId?: string;
	userIds?: string[];
	strategy?: "fixed" | "round_robin";
	reason?: string;
	conditions?: unknown[];
	match?: "all" | "any";
	then?: FlowNode[];
	else?: FlowNode[];
}

export interface FlowTrigger {
	type: TriggerType;
	config?: { keywords?: string[]; match?: "any" | "all"; tag?: string; campaignId?: string };
}

/** A template as validation needs it: its owner and what it renders. */
export type TemplateInfo = RenderableTemplate & { merchantId: string };

const COMMON = ["type", "id", "delay"];
const FIELDS: Record<NodeType, string[]> = {
	send_message: ["templateId", "variables"],
	wait: ["duration"],
	add_tag: ["tag"],
	remove_tag: ["tag"],
	set_attribute: ["key", "value"],
	assign_conversation: ["userId", "userIds", "strategy"],
	close_conversation: ["reason"],
	condition: ["conditions", "match", "then", "else"],
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isScalar = (v: unknown) => typeof v === "string" || (typeof v === "number" && Number.isFinite(v)) || typeof v === "boolean";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Every node with its place, depth first in execution order. */
export function walkNodes(nodes: unknown, prefix = "nodes", depth = 1): { node: Record<string, unknown>; at: string; depth: number }[] {
	if (!Array.isArray(nodes)) return [];
	const out: { node: Record<string, unknown>; at: string; depth: number }[] = [];
	nodes.forEach((node, i) => {
		const at = `${prefix}[${i}]`;
		if (!isObject(node)) return;
		out.push({ node, at, depth });
		if (node.type === "condition") {
			out.push(...walkNodes(node.then, `${at}.then`, depth + 1), ...walkNodes(node.else, `${at}.else`, depth + 1));
		}
	});
	return out;
}

/** The distinct templates a definition sends. */
export function templateIdsOf(nodes: unknown): string[] {
	const ids = walkNodes(nodes)
		.map(({ node }) => node.templateId)
		.filter((id): id is string => typeof id === "string" && UUID.test(id));
	return [...new Set(ids)];
}

function seconds(value: unknown, field: string, required: boolean, problems: ErrorDetail[]) {
	if (value === undefined && !required) return;
	if (typeof value !== "number" || !Number.isInteger(value)) problems.push({ field, message: "must be a whole number of seconds" });
	else if (value < 0) problems.push({ field, message: "must not be negative" });
	else if (value > MAX_DURATION_SECONDS) problems.push({ field, message: `must be at most ${MAX_DURATION_SECONDS} seconds (90 days)` });
}

function tagProblem(tag: unknown): string | null {
	if (typeof tag !== "string" || !tag.trim() || tag.length > 100) return "must be a tag (1 to 100 characters)";
	return tag.includes(",") ? "must not contain a comma" : null;
}

export function triggerProblems(trigger: unknown): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	if (!isObject(trigger)) return [{ field: "trigger", message: "must be an object {type, config}" }];
	const type = trigger.type;
	if (typeof type !== "string" || !(TRIGGER_TYPES as readonly string[]).includes(type)) {
		return [{ field: "trigger.type", message: `must be one of: ${TRIGGER_TYPES.join(", ")}` }];
	}
	const config = trigger.config ?? {};
	if (!isObject(config)) return [{ field: "trigger.config", message: "must be an object" }];
	const allowed: Record<TriggerType, string[]> = {
		contact_created: [],
		message_received: ["keywords", "match"],
		tag_added: ["tag"],
		conversation_closed: [],
		campaign_replied: ["campaignId"],
	};
	for (const key of Object.keys(config)) {
		if (!allowed[type as TriggerType].includes(key))
			problems.push({ field: `trigger.config.${key}`, message: `is not a setting of ${type}` });
	}
	if (type === "message_received") {
		const { keywords, match } = config;
		if (keywords !== undefined) {
			if (!Array.isArray(keywords) || keywords.length > MAX_KEYWORDS)
				problems.push({ field: "trigger.config.keywords", message: `must be a list of at most ${MAX_KEYWORDS} keywords` });
			else
				keywords.forEach((k, i) => {
					if (typeof k !== "string" || !foldText(k) || k.length > 100)
						problems.push({
							field: `trigger.config.keywords[${i}]`,
							message: "must be a word or phrase of letters or digits (at most 100 characters)",
						});
				});
		}
		if (match !== undefined && match !== "any" && match !== "all")
			problems.push({ field: "trigger.config.match", message: "must be one of: any, all" });
	}
	if (type === "tag_added") {
		const problem = tagProblem(config.tag);
		if (problem) problems.push({ field: "trigger.config.tag", message: problem });
	}
	if (type === "campaign_replied" && (typeof config.campaignId !== "string" || !UUID.test(config.campaignId))) {
		problems.push({ field: "trigger.config.campaignId", message: "must be a campaign id" });
	}
	return problems;
}

function nodeProblems(
	node: Record<string, unknown>,
	at: string,
	depth: number,
	merchantId: string,
	templates: Map<string, TemplateInfo>,
	problems: ErrorDetail[]
) {
	const type = node.type as NodeType;
	if (typeof type !== "string" || !(NODE_TYPES as readonly string[]).includes(type)) {
		problems.push({ field: `${at}.type`, message: `must be one of: ${NODE_TYPES.join(", ")}` });
		return;
	}
	for (const key of Object.keys(node)) {
		if (!COMMON.includes(key) && !FIELDS[type].includes(key))
			problems.push({ field: `${at}.${key}`, message: `is not a field of ${type}` });
	}
	if (node.id !== undefined && (typeof node.id !== "string" || !/^[A-Za-z0-9_-]{1,64}$/.test(node.id))) {
		problems.push({ field: `${at}.id`, message: "must be 1-64 letters, digits, _ or -" });
	}
	seconds(node.delay, `${at}.delay`, false, problems);
	switch (type) {
		case "send_message": {
			const variables = node.variables ?? {};
			if (!isObject(variables)) problems.push({ field: `${at}.variables`, message: "must be an object of names to values" });
			else
				for (const [k, v] of Object.entries(variables))
					if (!isScalar(v)) problems.push({ field: `${at}.variables.${k}`, message: "must be a string, number or boolean" });
			const template = typeof node.templateId === "string" ? templates.get(node.templateId) : undefined;
			if (!template || template.merchantId !== merchantId) {
				problems.push({ field: `${at}.templateId`, message: "must be one of your templates" });
			} else if (isObject(variables)) {
				for (const name of placeholdersOf(template)) {
					if (!isBuiltinVariable(name) && !Object.hasOwn(variables, name))
						problems.push({ field: `${at}.variables.${name}`, message: "is used by the template but neither built-in nor given" });
				}
			}
			break;
		}
		case "wait":
			seconds(node.duration, `${at}.duration`, true, problems);
			break;
		case "add_tag":
		case "remove_tag": {
			const problem = tagProblem(node.tag);
			if (problem) problems.push({ field: `${at}.tag`, message: problem });
			break;
		}
		case "set_attribute": {
			const keyProblem = typeof node.key === "string" ? attributeKeyProblem(node.key) : "must be an attribute name";
			if (keyProblem) problems.push({ field: `${at}.key`, message: keyProblem });
			if (node.value !== null && !(isScalar(node.value) && String(node.value).length <= 1000)) {
				problems.push({ field: `${at}.value`, message: "must be a string (at most 1000 characters), number, boolean, or null to remove" });
			}
			break;
		}
		case "assign_conversation": {
			const strategy = node.strategy ?? (node.userIds ? "round_robin" : "fixed");
			if (strategy === "round_robin") {
				const ids = node.userIds;
				if (
					!Array.isArray(ids) ||
					ids.length === 0 ||
					ids.length > MAX_ROUND_ROBIN ||
					ids.some(u => typeof u !== "string" || !u || u.length > 100)
				) {
					problems.push({ field: `${at}.userIds`, message: `must be a list of 1 to ${MAX_ROUND_ROBIN} user ids` });
				}
			} else if (strategy === "fixed") {
				if (typeof node.userId !== "string" || !node.userId || node.userId.length > 100)
					problems.push({ field: `${at}.userId`, message: "must be a user id" });
			} else problems.push({ field: `${at}.strategy`, message: "must be one of: fixed, round_robin" });
			break;
		}
		case "close_conversation":
			if (node.reason !== undefined && (typeof node.reason !== "string" || node.reason.length > 200))
				problems.push({ field: `${at}.reason`, message: "must be at most 200 characters" });
			break;
		case "condition":
			problems.push(
				...conditionProblems(node.conditions, node.match ?? "all", `${at}.conditions`).map(p =>
					p.field === "match" ? { ...p, field: `${at}.match` } : p
				)
			);
			if (!Array.isArray(node.then)) problems.push({ field: `${at}.then`, message: "must be a list of nodes" });
			if (node.else !== undefined && !Array.isArray(node.else)) problems.push({ field: `${at}.else`, message: "must be a list of nodes" });
			if (depth > MAX_DEPTH && [...((node.then as unknown[]) ?? []), ...((node.else as unknown[]) ?? [])].length > 0) {
				problems.push({ field: `${at}.then`, message: `conditions may be nested at most ${MAX_DEPTH} deep` });
			}
			break;
	}
}

/** Every problem of a definition; `templates` holds the templates it names (any merchant's). */
export function flowProblems(
	input: { trigger?: unknown; nodes?: unknown },
	merchantId: string,
	templates: Map<string, TemplateInfo>
): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	if (input.trigger !== undefined) problems.push(...triggerProblems(input.trigger));
	if (input.nodes === undefined) return problems;
	if (!Array.isArray(input.nodes) || input.nodes.length === 0)
		return [...problems, { field: "nodes", message: "must be a list of at least 1 node" }];
	const all = walkNodes(input.nodes).filter(n => n.depth <= MAX_DEPTH + 1);
	if (all.length > MAX_NODES)
		return [...problems, { field: "nodes", message: `a flow has at most ${MAX_NODES} nodes (conditions' branches included)` }];
	const check = (list: unknown[], prefix: string, depth: number) =>
		list.forEach((node, i) => {
			const at = `${prefix}[${i}]`;
			if (!isObject(node)) return void problems.push({ field: at, message: "must be a node object {type, ...}" });
			nodeProblems(node, at, depth, merchantId, templates, problems);
			if (node.type === "condition" && depth <= MAX_DEPTH) {
				if (Array.isArray(node.then)) check(node.then, `${at}.then`, depth + 1);
				if (Array.isArray(node.else)) check(node.else, `${at}.else`, depth + 1);
			}
		});
	check(input.nodes, "nodes", 1);
	const seen = new Map<string, string>();
	for (const { node, at } of all) {
		if (typeof node.id !== "string") continue;
		if (seen.has(node.id)) problems.push({ field: `${at}.id`, message: `is already the id of ${seen.get(node.id)}` });
		else seen.set(node.id, at);
	}
	return problems;
}
