import { CAMPAIGN_STATUSES } from "../../models/campaign.model.ts";
import { canApply, nextStatus, statusForSchedule } from "../../services/campaigns/state.ts";

describe("campaign lifecycle", () => {
	test("start takes a draft or a scheduled campaign to running, nothing else", () => {
		expect(nextStatus("start", "draft")).toBe("running");
		expect(nextStatus("start", "scheduled")).toBe("running");
		for (const s of ["running", "paused", "completed", "cancelled"] as const) expect(nextStatus("start", s)).toBeNull();
	});

	test("pause and resume go between running and paused only", () => {
		expect(nextStatus("pause", "running")).toBe("paused");
		expect(nextStatus("resume", "paused")).toBe("running");
		expect(nextStatus("pause", "paused")).toBeNull();
		expect(nextStatus("resume", "running")).toBeNull();
		expect(nextStatus("pause", "scheduled")).toBeNull();
	});

	test("cancel applies to every state before the end, and nothing applies after it", () => {
		for (const s of ["draft", "scheduled", "running", "paused"] as const) expect(nextStatus("cancel", s)).toBe("cancelled");
		for (const s of ["completed", "cancelled"] as const) {
			for (const cmd of ["start", "pause", "resume", "cancel", "edit", "delete"] as const) expect(canApply(cmd, s)).toBe(false);
		}
	});

	test("only draft and scheduled campaigns may be edited or deleted; an edit keeps the status", () => {
		for (const s of CAMPAIGN_STATUSES) {
			const editable = s === "draft" || s === "scheduled";
			expect(canApply("edit", s)).toBe(editable);
			expect(canApply("delete", s)).toBe(editable);
		}
		expect(nextStatus("edit", "scheduled")).toBe("scheduled");
	});

	test("a start time makes a draft scheduled, and removing it makes it a draft again", () => {
		expect(statusForSchedule("draft", new Date())).toBe("scheduled");
		expect(statusForSchedule("scheduled", null)).toBe("draft");
		expect(statusForSchedule("draft", null)).toBe("draft");
	});
});
