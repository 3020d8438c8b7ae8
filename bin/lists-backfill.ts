// `npm run lists:backfill`: gives contacts and conversations stored before the lists walked
// buckets of activity (docs/embedded-engine.md, "Lists at real size") their `activityAt`,
// `activityKeys` (and a contact its `searchKeys`), and marks their days; rows without them are not
// listed by GET /contacts and GET /conversations. Walks each collection by `_id` in pages of 500;
// rows that have the fields are left as they are, so it can run again. One JSON line on stdout.
import type { Model } from "mongoose";
import { ConfigError } from "../lib/config.ts";
import { openCliDatabase } from "../lib/cli-database.ts";
import { markActivityDays, type ActivityDayModel } from "../lib/activity-days.ts";
import { ContactModel, contactActivityFields, contactSearchFields } from "../models/contact.model.ts";
import { ConversationModel, conversationActivityFields } from "../models/conversation.model.ts";
import { ContactActivityDayModel } from "../models/contact-activity-day.model.ts";
import { ConversationActivityDayModel } from "../models/conversation-activity-day.model.ts";

const PAGE = 500;

type Row = Record<string, unknown> & { _id: string; merchantId: string; activityKeys?: string[] };

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- contacts and conversations alike, read as plain rows
async function backfill(model: Model<any>, days: ActivityDayModel, fields: (row: Row) => Record<string, unknown> & { activityAt: Date }) {
	let after: string | null = null;
	let seen = 0;
	let updated = 0;
	for (;;) {
		const rows: Row[] = await model
			.find(after ? { _id: { $gt: after } } : {})
			.sort({ _id: 1 })
			.limit(PAGE)
			.lean<Row[]>();
		if (!rows.length) break;
		after = rows[rows.length - 1]._id;
		seen += rows.length;
		const missing = rows.filter(r => !r.activityKeys?.length).map(r => ({ row: r, set: fields(r) }));
		for (const { row, set } of missing) await markActivityDays(days, row.merchantId, [set.activityAt]);
		if (missing.length) {
			await model.bulkWrite(
				missing.map(({ row, set }) => ({ updateOne: { filter: { _id: row._id }, update: { $set: set } } })),
				{ ordered: false }
			);
			updated += missing.length;
		}
		console.error(`${model.collection.name}: ${seen} read, ${updated} updated`);
	}
	return { read: seen, updated };
}

const date = (v: unknown): Date | null => (v ? new Date(v as string) : null);

async function main() {
	const db = await openCliDatabase();
	try {
		await ContactModel.createIndexes();
		await ConversationModel.createIndexes();
		const contacts = await backfill(ContactModel, ContactActivityDayModel, c => ({
			...contactActivityFields(date(c.lastInteractionAt) ?? date(c.createdAt) ?? new Date()),
			...contactSearchFields(c.username as string, c.displayName as string),
		}));
		const conversations = await backfill(ConversationModel, ConversationActivityDayModel, c =>
			conversationActivityFields(date(c.lastMessageAt) ?? date(c.startedAt) ?? new Date())
		);
		console.log(JSON.stringify({ contacts, conversations }));
	} finally {
		await db.close();
	}
}

main().catch(err => {
	console.error(err instanceof ConfigError ? `lists:backfill cannot start: ${err.message}` : err);
	process.exit(1);
});
