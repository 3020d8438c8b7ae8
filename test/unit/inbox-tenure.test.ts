import { Tenure, Tenures } from "../../services/inbox/tenure.ts";
import type { Conversation } from "../../models/conversation.model.ts";

// What an account's writer remembers between batches (services/inbox/tenure.ts): one tenure per
// lease, what it wrote last, and nothing it cannot vouch for.

const conversation = (id: string, contactId: string, status = "open") =>
	({ _id: id, contactId, status, messageCount: 1 }) as unknown as Conversation;

test("a new lease starts an empty tenure; the same lease finds its own", () => {
	const tenures = new Tenures();
	const lease = {};
	const t = tenures.of("acc", lease, 0);
	t.rememberContact("x1", "c1", null);
	expect(tenures.of("acc", lease, 1_000).contactOf("x1", null)).toBe("c1");
	expect(tenures.of("acc", {}, 2_000).contactOf("x1", null)).toBeNull();
});

test("a tenure unused for a minute is forgotten; drop and clear forget at once", () => {
	const tenures = new Tenures();
	const lease = {};
	tenures.of("acc", lease, 0).rememberContact("x1", "c1", null);
	expect(tenures.of("acc", lease, 61_000).contactOf("x1", null)).toBeNull();
	tenures.of("acc", lease, 61_000).rememberContact("x1", "c1", null);
	tenures.drop("acc");
	expect(tenures.of("acc", lease, 61_001).contactOf("x1", null)).toBeNull();
	tenures.of("acc", lease, 61_002).rememberContact("x1", "c1", null);
	tenures.clear();
	expect(tenures.of("acc", lease, 61_003).contactOf("x1", null)).toBeNull();
});

test("a contact is known only with the profile last given (none given: any)", () => {
	const t = new Tenure();
	t.rememberContact("x1", "c1", { username: "an", profileImageUrl: null });
	expect(t.contactOf("x1", null)).toBe("c1");
	expect(t.contactOf("x1", { username: "an", profileImageUrl: null })).toBe("c1");
	expect(t.contactOf("x1", { username: "an_moi", profileImageUrl: null })).toBeNull();
	expect(t.contactOf("x1", { username: "an", profileImageUrl: "https://pbs.twimg.com/a.jpg" })).toBeNull();
	// Remembered without a profile, then one comes: asked once, then known with it.
	t.rememberContact("x2", "c2", null);
	expect(t.contactOf("x2", { username: "binh" })).toBeNull();
	t.rememberContact("x2", "c2", { username: "binh" });
	expect(t.contactOf("x2", { username: "binh" })).toBe("c2");
});

test("a conversation follows this writer's writes; closed, it is no longer the contact's open one", () => {
	const t = new Tenure();
	t.rememberConversation(conversation("v1", "c1"));
	t.rememberConversation(conversation("v0", "c0", "closed"));
	expect(t.openConversationOf("c1")?._id).toBe("v1");
	expect(t.openConversationOf("c0")).toBeNull();
	expect(t.conversation("v0")?._id).toBe("v0");
	t.written("v1", { messageCount: 2 });
	expect(t.openConversationOf("c1")).toMatchObject({ messageCount: 2 });
	t.written("v1", { status: "closed", openKey: "closed:v1" });
	expect(t.openConversationOf("c1")).toBeNull();
	expect(t.conversation("v1")).toMatchObject({ status: "closed", messageCount: 2 });
	t.written("unknown", { messageCount: 5 });
	expect(t.conversation("unknown")).toBeNull();
});
