import mongoose from "mongoose";
import { activityDaySchema } from "../lib/activity-days.ts";

/** Days of activity of a merchant's contacts (lib/activity-days.ts): the pages of GET /contacts. */
export const ContactActivityDayModel = mongoose.model("ContactActivityDay", activityDaySchema(), "contact_activity_days");
