import type { Context } from "moleculer";
import { ValidationFailedError, type ErrorDetail } from "../../lib/errors.ts";
import { isBuiltinVariable, placeholdersOf, type RenderableTemplate } from "../templates/render.ts";
import type { SegmentMatch } from "../segments/compile.ts";
import type { SegmentSnapshot } from "./audience.ts";
import { callFor } from "../../lib/calls.ts";

// What a campaign is made of, checked as a whole so one 422 names every problem: its template
// and segments must exist and be the merchant's (asked of their services, which answer 404
// for another merchant's), the schedule must end after it starts, and every placeholder of the
// template must be a built-in (filled from the contact) or one of the campaign's variables.

export interface CampaignDefinition {
	templateId: string;
	segmentIds: string[];
	schedule: { startAt: Date | null; endAt: Date | null };
	variables: Record<string, unknown>;
}

/** The definition of a stored campaign. */
export function definitionOf(c: {
	templateId: string;
	segmentIds?: string[] | null;
	schedule?: { startAt?: Date | null; endAt?: Date | null } | null;
	variables?: unknown;
}): CampaignDefinition {
	const date = (d: Date | null | undefined) => (d ? new Date(d) : null);
	return {
		templateId: c.templateId,
		segmentIds: c.segmentIds ?? [],
		schedule: { startAt: date(c.schedule?.startAt), endAt: date(c.schedule?.endAt) },
		variables: (c.variables as Record<string, unknown>) ?? {},
	};
}

export interface TemplateSnapshot extends RenderableTemplate {
	id: string;
	name: string;
}

export interface Resolved {
	template: TemplateSnapshot;
	segments: SegmentSnapshot[];
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

type Presented = Record<string, unknown> & { id: string; name: string };

async function fetchOwned(
	ctx: Context,
	action: "templates.get" | "segments.get",
	id: string,
	merchantId: string
): Promise<Presented | null> {
	try {
		return await callFor(ctx, merchantId, action, { id });
	} catch (err) {
		if ((err as { type?: string }).type === "NOT_FOUND") return null;
		throw err;
	}
}

export function scheduleProblems(schedule: CampaignDefinition["schedule"], now: Date): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	const { startAt, endAt } = schedule;
	if (startAt && endAt && endAt.getTime() <= startAt.getTime())
		problems.push({ field: "schedule.endAt", message: "must be after schedule.startAt" });
	else if (endAt && endAt.getTime() <= now.getTime()) problems.push({ field: "schedule.endAt", message: "must be in the future" });
	return problems;
}

export function variableProblems(template: RenderableTemplate | null, variables: Record<string, unknown>): ErrorDetail[] {
	const problems: ErrorDetail[] = [];
	for (const [name, value] of Object.entries(variables)) {
		// Stored as keys of a document: no "." or "$" may reach one.
		if (!VARIABLE_NAME.test(name))
			problems.push({ field: `variables.${name}`, message: "is not a valid variable name (letters, digits and _)" });
		else if (!["string", "number", "boolean"].includes(typeof value))
			problems.push({ field: `variables.${name}`, message: "must be a string, number or boolean" });
	}
	if (template) {
		for (const name of placeholdersOf(template)) {
			if (!isBuiltinVariable(name) && !Object.hasOwn(variables, name)) {
				problems.push({ field: `variables.${name}`, message: "is used by the template and is neither built-in nor given" });
			}
		}
	}
	return problems;
}

/**
 * Fetches the template and segments and checks the whole definition (422 listing every
 * problem). `checkSchedule` is off when a campaign starts: a schedule already accepted stands.
 */
export async function resolveDefinition(
	ctx: Context,
	merchantId: string,
	def: CampaignDefinition,
	now: Date,
	checkSchedule = true
): Promise<Resolved> {
	const problems: ErrorDetail[] = [];
	const template = await fetchOwned(ctx, "templates.get", def.templateId, merchantId);
	if (!template) problems.push({ field: "templateId", message: "no such template" });
	const segments: SegmentSnapshot[] = [];
	const seen = new Set<string>();
	for (const [i, id] of def.segmentIds.entries()) {
		if (seen.has(id)) continue;
		seen.add(id);
		const segment = await fetchOwned(ctx, "segments.get", id, merchantId);
		if (!segment) problems.push({ field: `segmentIds[${i}]`, message: "no such segment" });
		else segments.push({ id, name: segment.name, match: (segment.match as SegmentMatch) ?? "all", conditions: segment.conditions ?? [] });
	}
	if (checkSchedule) problems.push(...scheduleProblems(def.schedule, now));
	const snapshot = template ? templateSnapshot(template) : null;
	problems.push(...variableProblems(snapshot, def.variables));
	if (problems.length) throw new ValidationFailedError(problems);
	return { template: snapshot!, segments };
}

function templateSnapshot(t: Presented): TemplateSnapshot {
	return {
		id: t.id,
		name: t.name,
		type: String(t.type ?? "text"),
		content: (t.content as string) ?? "",
		options: (t.options as TemplateSnapshot["options"]) ?? null,
		card: (t.card as TemplateSnapshot["card"]) ?? null,
	};
}
