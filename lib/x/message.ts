// X's limit on the text of one direct message: the one definition every sender, validator and
// preview checks against.
export const MAX_MESSAGE_LENGTH = 10_000;

/** DMs in one batch of the send pipeline (inbox.sendBatch, x.sendDirectMessages). */
export const MAX_SEND_BATCH = 100;
