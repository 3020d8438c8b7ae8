import mongoose, { Schema, type InferSchemaType } from "mongoose";
import { publicJson, uuidId } from "./plugins.ts";
import { activityKeys } from "../lib/activity-buckets.ts";
import { searchKeys } from "../lib/search-keys.ts";
import { ContactActivityDayModel } from "./contact-activity-day.model.ts";
import { markActivityDays, markInsertedDays } from "../lib/activity-days.ts";

export const CONTACT_SOURCES = ["inbound_message", "manual", "import", "campaign"] as const;

export const contactSchema = new Schema(
	{
		_id: uuidId,
		merchantId: { type: String, required: true },
		accountId: { type: String, required: true },
		twitterUserId: { type: String, required: true },
		username: { type: String, default: "" },
		/** username lower-cased, for case-insensitive prefix search served by an index */
		usernameLower: { type: String, default: "" },
		displayName: { type: String, default: "" },
		profileImageUrl: { type: String, default: null },
		tags: { type: [String], default: [] },
		// Keys: letters, digits, _ and - only (checked by the contacts service): no "." or "$".
		attributes: { type: Schema.Types.Mixed, default: {} },
		source: { type: String, enum: CONTACT_SOURCES, default: "inbound_message" },
		conversationCount: { type: Number, default: 0 },
		messagesReceived: { type: Number, default: 0 },
		messagesSent: { type: Number, default: 0 },
		firstInteractionAt: { type: Date, default: null },
		lastInteractionAt: { type: Date, default: null },
		/** The list's order: the last interaction, or when the contact was created if none yet. */
		activityAt: { type: Date, default: null },
		/** Day and hour of `activityAt` (lib/activity-buckets.ts): the pages of GET /contacts. */
		activityKeys: { type: [String], default: [] },
		/** Substrings of 1–3 characters of the lower-cased names (lib/search-keys.ts): GET /contacts?search. */
		searchKeys: { type: [String], default: [] },
		/** Last message the customer wrote to the account: X allows automated DMs only after one. */
		lastInboundAt: { type: Date, default: null },
		optedOut: { type: Boolean, default: false },
		optedOutAt: { type: Date, default: null },
		/** Explicit opt-in to automated messages (an agent set it, or the customer asked). */
		optedIn: { type: Boolean, default: false },
		responseTimeTotalSeconds: { type: Number, default: 0 },
		responseCount: { type: Number, default: 0 },
	},
	{ timestamps: true, collection: "contacts", minimize: false }
);

// One contact per X user per connected account; concurrent first messages race on this index.
contactSchema.index({ accountId: 1, twitterUserId: 1 }, { unique: true });
contactSchema.index({ merchantId: 1, tags: 1 });
contactSchema.index({ merchantId: 1, accountId: 1 });
// GET /contacts and segment previews: most recent interaction first, `_id` breaking ties; their
// other filters (account, tags, search, conditions) are checked on the keys this scan reads.
contactSchema.index({ merchantId: 1, lastInteractionAt: -1, _id: 1 });
// The CSV export walks a merchant's contacts in `_id` order (a cursor, not pages).
contactSchema.index({ merchantId: 1, _id: 1 });
contactSchema.index({ merchantId: 1, usernameLower: 1 });
// GET /contacts walks the merchant's contacts bucket by bucket of activity (an equality, which the
// embedded FerretDB pushes down; lib/activity-buckets.ts); its search asks for one of its
// substrings first (lib/search-keys.ts).
contactSchema.index({ merchantId: 1, activityKeys: 1 });
contactSchema.index({ merchantId: 1, searchKeys: 1 });
publicJson(contactSchema, ["activityKeys", "searchKeys"]);

/** The fields derived from a contact's activity time, for a $set (or a new document). */
export function contactActivityFields(at: Date): { activityAt: Date; activityKeys: string[] } {
	return { activityAt: at, activityKeys: activityKeys(at) };
}

/** The fields derived from a contact's names, for a $set (or a new document). */
export function contactSearchFields(username: string | null | undefined, displayName: string | null | undefined) {
	return { searchKeys: searchKeys(username, displayName) };
}

// A contact created or saved as a document (fixtures, imports) gets its derived fields here;
// updates and lean inserts set them where they change the fields they come from.
contactSchema.pre("validate", function () {
	const at = this.lastInteractionAt ?? this.activityAt ?? this.createdAt ?? new Date();
	Object.assign(this, contactActivityFields(at), contactSearchFields(this.username, this.displayName));
});
contactSchema.post("save", async function () {
	await markActivityDays(ContactActivityDayModel, this.merchantId, [this.activityAt]);
});
contactSchema.post("insertMany", async function (docs: unknown) {
	await markInsertedDays(ContactActivityDayModel, docs);
});

export type Contact = InferSchemaType<typeof contactSchema> & { _id: string };
export const ContactModel = mongoose.model("Contact", contactSchema);
