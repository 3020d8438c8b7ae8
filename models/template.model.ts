import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";

export const TEMPLATE_TYPES = ["text", "quick_reply", "card"] as const;
export type TemplateType = (typeof TEMPLATE_TYPES)[number];

const optionSchema = new Schema({ label: { type: String, required: true }, description: { type: String, default: null } }, { _id: false });
const buttonSchema = new Schema({ label: { type: String, required: true }, url: { type: String, required: true } }, { _id: false });
const cardSchema = new Schema(
	{
		title: { type: String, required: true },
		text: { type: String, default: "" },
		imageUrl: { type: String, default: null },
		buttons: { type: [buttonSchema], default: [] },
	},
	{ _id: false }
);

export const templateSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		name: { type: String, required: true },
		type: { type: String, enum: TEMPLATE_TYPES, default: "text" },
		content: { type: String, default: "" },
		/** The placeholders of the template, as declared (checked against the text on every write). */
		variables: { type: [String], default: [] },
		/** quick_reply only */
		options: { type: [optionSchema], default: undefined },
		/** card only */
		card: { type: cardSchema, default: undefined },
	},
	{ timestamps: true, collection: "templates" }
);

// A name is unique per merchant; two concurrent creates race on this index, not on a read.
templateSchema.index({ merchantId: 1, name: 1 }, { unique: true });
// GET /templates in its page order, with and without a type (a name search is checked on the rows read).
templateSchema.index({ merchantId: 1, createdAt: -1, _id: 1 });
templateSchema.index({ merchantId: 1, type: 1, createdAt: -1, _id: 1 });
publicJson(templateSchema);

export type Template = InferSchemaType<typeof templateSchema> & { _id: string };
export const TemplateModel = mongoose.model("Template", templateSchema);
