import type { CampaignStatus } from "../../models/campaign.model.ts";
import { ConflictError } from "../../lib/errors.ts";

// The campaign's life: draft → scheduled → running ⇄ paused → completed, and cancelled from
// any state before completion. Only draft and scheduled campaigns may be edited or deleted.

export type CampaignCommand = "start" | "pause" | "resume" | "cancel" | "edit" | "delete" | "complete";

const FROM: Record<CampaignCommand, readonly CampaignStatus[]> = {
	start: ["draft", "scheduled"],
	pause: ["running"],
	resume: ["paused"],
	cancel: ["draft", "scheduled", "running", "paused"],
	edit: ["draft", "scheduled"],
	delete: ["draft", "scheduled"],
	complete: ["running", "paused"],
};

const TO: Partial<Record<CampaignCommand, CampaignStatus>> = {
	start: "running",
	pause: "paused",
	resume: "running",
	cancel: "cancelled",
	complete: "completed",
};

export function canApply(command: CampaignCommand, from: CampaignStatus): boolean {
	return FROM[command].includes(from);
}

/** The statuses a command applies to (the filter of its conditional update). */
export function statusesFor(command: CampaignCommand): CampaignStatus[] {
	return [...FROM[command]];
}

/** The status after the command, or null when it does not apply to `from`. Edits keep the status. */
export function nextStatus(command: CampaignCommand, from: CampaignStatus): CampaignStatus | null {
	if (!canApply(command, from)) return null;
	return TO[command] ?? from;
}

/** Campaigns in these states still use their template and segments (deleting them is refused). */
export const ACTIVE_STATUSES: readonly CampaignStatus[] = ["scheduled", "running", "paused"];

/** A draft becomes scheduled when it gets a start time, and a scheduled campaign a draft without one. */
export function statusForSchedule(current: "draft" | "scheduled", startAt: Date | null): "draft" | "scheduled" {
	if (current !== "draft" && current !== "scheduled") return current;
	return startAt ? "scheduled" : "draft";
}

/** The 409 of a command that does not apply: it names the campaign's status. */
export function invalidStatus(command: CampaignCommand, status: CampaignStatus) {
	return new ConflictError(`Cannot ${command} a campaign that is ${status}`, "INVALID_CAMPAIGN_STATUS", {
		field: "status",
		message: `the campaign is ${status}; ${command} applies to: ${statusesFor(command).join(", ")}`,
		status,
	});
}
