import { flowProblems, templateIdsOf, MAX_DURATION_SECONDS, type TemplateInfo } from "../../services/flows/definition.ts";
import { enterBranch, fieldOf, nextAfter, nodeAt } from "../../services/flows/plan.ts";
import { matchesKeywords } from "../../services/flows/keywords.ts";

const TPL = "11111111-1111-4111-8111-111111111111";
const templates = new Map<string, TemplateInfo>([[TPL, { merchantId: "m1", type: "text", content: "Chào {{name}}, mã {{code}}" }]]);
const fields = (input: Parameters<typeof flowProblems>[0]) => flowProblems(input, "m1", templates).map(p => p.field);

describe("flow definitions", () => {
	test("the contract's example is valid once the template's own variables are given", () => {
		const nodes = [
			{ type: "send_message", templateId: TPL, delay: 0, variables: { code: "A1" } },
			{ type: "wait", duration: 86400 },
			{ type: "send_message", templateId: TPL, delay: 0, variables: { code: "B2" } },
		];
		expect(flowProblems({ trigger: { type: "contact_created", config: {} }, nodes }, "m1", templates)).toEqual([]);
		expect(templateIdsOf(nodes)).toEqual([TPL]);
	});

	test("a template of another merchant, a missing variable and a field of another node type are named by place", () => {
		expect(fields({ nodes: [{ type: "send_message", templateId: TPL }] })).toEqual(["nodes[0].variables.code"]);
		expect(flowProblems({ nodes: [{ type: "send_message", templateId: TPL, variables: { code: 1 } }] }, "m2", templates)).toEqual([
			{ field: "nodes[0].templateId", message: "must be one of your templates" },
		]);
		expect(fields({ nodes: [{ type: "wait", duration: 5, tag: "x" }] })).toEqual(["nodes[0].tag"]);
	});

	test("durations are whole seconds from 0 to 90 days, in branches too", () => {
		expect(fields({ nodes: [{ type: "wait", duration: MAX_DURATION_SECONDS }] })).toEqual([]);
		expect(
			fields({
				nodes: [
					{ type: "wait" },
					{ type: "wait", duration: 1.5 },
					{ type: "condition", conditions: [], then: [{ type: "wait", duration: MAX_DURATION_SECONDS + 1 }] },
				],
			})
		).toEqual(["nodes[0].duration", "nodes[1].duration", "nodes[2].then[0].duration"]);
	});

	test("more than 100 nodes in all, or conditions nested more than 5 deep, are refused", () => {
		const many = Array.from({ length: 60 }, () => ({ type: "add_tag", tag: "a" }));
		expect(fields({ nodes: [...many, { type: "condition", conditions: [], then: many }] })).toEqual(["nodes"]);
		const nest = (d: number): Record<string, unknown> =>
			d === 0 ? { type: "add_tag", tag: "a" } : { type: "condition", conditions: [], then: [nest(d - 1)] };
		expect(fields({ nodes: [nest(5)] })).toEqual([]);
		expect(fields({ nodes: [nest(6)] })).toEqual(["nodes[0].then[0].then[0].then[0].then[0].then[0].then"]);
	});

	test("triggers: unknown types, keyword lists, a tag and a campaign id", () => {
		expect(fields({ trigger: { type: "birthday" } })).toEqual(["trigger.type"]);
		expect(fields({ trigger: { type: "message_received", config: { keywords: ["ok", "!!!"], match: "both" } } })).toEqual([
			"trigger.config.keywords[1]",
			"trigger.config.match",
		]);
		expect(fields({ trigger: { type: "tag_added", config: {} } })).toEqual(["trigger.config.tag"]);
		expect(fields({ trigger: { type: "campaign_replied", config: { campaignId: "nope" } } })).toEqual(["trigger.config.campaignId"]);
		expect(fields({ trigger: { type: "contact_created", config: { tag: "x" } } })).toEqual(["trigger.config.tag"]);
	});
});

describe("step paths", () => {
	const nodes = [
		{ type: "add_tag" as const, tag: "a" },
		{
			type: "condition" as const,
			then: [
				{ type: "add_tag" as const, tag: "b" },
				{ type: "condition" as const, then: [{ type: "wait" as const, duration: 1 }], else: [] },
			],
			else: [],
		},
		{ type: "add_tag" as const, tag: "c" },
	];
	test("the next step leaves finished branches and ends after the last node", () => {
		expect(nextAfter(nodes, "0")).toBe("1");
		expect(enterBranch(nodes, "1", "then")).toBe("1.then.0");
		expect(enterBranch(nodes, "1", "else")).toBe("2");
		expect(nextAfter(nodes, "1.then.0")).toBe("1.then.1");
		expect(nextAfter(nodes, "1.then.1.then.0")).toBe("2");
		expect(nextAfter(nodes, "2")).toBeNull();
		expect(nodeAt(nodes, "1.then.1.then.0")).toEqual({ type: "wait", duration: 1 });
		expect(fieldOf("1.then.1.then.0")).toBe("nodes[1].then[1].then[0]");
	});
});

describe("keyword triggers", () => {
	test("keywords match whole words, any case, with or without accents", () => {
		expect(matchesKeywords("GIÁ bao nhiêu vậy shop?", ["gia"])).toBe(true);
		expect(matchesKeywords("gia bao nhieu", ["Giá", "Bao Nhiêu"], "all")).toBe(true);
		expect(matchesKeywords("giá thế nào", ["giá", "bao nhiêu"], "all")).toBe(false);
		expect(matchesKeywords("gigantic", ["gia"])).toBe(false);
		expect(matchesKeywords("Đặt hàng", ["dat hang"])).toBe(true);
		expect(matchesKeywords("anything", [])).toBe(true);
	});
});
