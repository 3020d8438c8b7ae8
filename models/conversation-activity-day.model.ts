import mongoose from "mongoose";
import { activityDaySchema } from "../lib/activity-days.ts";

/** Days of activity of a merchant's conversations (lib/activity-days.ts): the pages of GET /conversations. */
export const ConversationActivityDayModel = mongoose.model("ConversationActivityDay", activityDaySchema(), "conversation_activity_days");
