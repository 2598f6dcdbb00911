//! `GET /api/openapi.json`: the HTTP API as OpenAPI 3.0, generated from the router's own table
//! ([`super::ROUTES`], and the file route [`super::FILE_ROUTE`]) and [`describe`], so a route cannot exist without appearing here (a test
//! checks that every route is described, and the interop tests validate the document).

use axum::Json;
use serde_json::{json, Map, Value};

use super::ROUTES;

pub struct Op {
    pub tag: &'static str,
    pub summary: &'static str,
    /// Request body schema (JSON) or `"text"` for a raw text body.
    pub request: Option<&'static str>,
    /// Success status and response schema (`None` = no body; `"binary"`/`"text"` = not JSON).
    pub response: (u16, Option<&'static str>),
    /// Needs no access token.
    pub public: bool,
    /// Query parameters: (name, type, description).
    pub query: &'static [(&'static str, &'static str, &'static str)],
}

const fn op(
    tag: &'static str,
    summary: &'static str,
    request: Option<&'static str>,
    response: (u16, Option<&'static str>),
) -> Op {
    Op {
        tag,
        summary,
        request,
        response,
        public: false,
        query: &[],
    }
}

/// Every route's documentation; `None` means "undocumented", which a test refuses.
pub fn describe(method: &str, path: &str) -> Option<Op> {
    let public = |o: Op| Op { public: true, ..o };
    Some(match (method, path) {
        ("GET", "/healthz") => public(op("operations", "The process answers", None, (200, Some("text")))),
        ("GET", "/readyz") => public(op("operations", "The store answers (503 while draining or when the store is down)", None, (200, Some("text")))),
        ("GET", "/metrics") => public(op("operations", "Prometheus metrics", None, (200, Some("text")))),
        ("GET", "/api/openapi.json") => public(op("operations", "This document", None, (200, Some("object")))),
        ("GET", "/api/auth/config") => public(op("auth", "How this server authenticates (accounts or none)", None, (200, Some("AuthConfig")))),
        ("POST", "/api/auth/signup") => public(op("auth", "Create an account (the first is the administrator); sets the refresh cookie", Some("Signup"), (201, Some("Session")))),
        ("POST", "/api/auth/guest") => public(op("auth", "Open a public link without an account: a guest with a generated name, viewing only, signed in on this browser until the link is revoked; sets the refresh cookie", Some("Guest"), (201, Some("Session")))),
        ("POST", "/api/auth/login") => public(op("auth", "Sign in; sets the refresh cookie", Some("Login"), (200, Some("Session")))),
        ("POST", "/api/auth/refresh") => public(op("auth", "Swap the refresh cookie (rotated on every use) for a new access token; reuse revokes the session", None, (200, Some("Session")))),
        ("POST", "/api/auth/logout") => op("auth", "Revoke this session and clear the cookie", None, (204, None)),
        ("POST", "/api/auth/password") => op("auth", "Change the password; signs out every other session", Some("PasswordChange"), (204, None)),
        ("GET", "/api/tokens") => op("tokens", "Your API tokens, and (administrators) service accounts'; never their secrets. Sessions only, not tokens", None, (200, Some("TokenList"))),
        ("POST", "/api/tokens") => op("tokens", "Make an API token (scopes read, write, admin; admin for administrators only); `service` (administrators) makes it a service account's, creating that account the first time. The token (`tdm_…`) is in this answer only. Sessions only", Some("NewToken"), (201, Some("CreatedToken"))),
        ("DELETE", "/api/tokens/{id}") => op("tokens", "Revoke an API token (yours, or a service account's as administrator); its sockets close at once on every node. Sessions only", None, (204, None)),
        ("GET", "/api/me") => op("auth", "The signed-in account", None, (200, Some("User"))),
        ("GET", "/api/docs") => Op {
            query: &[("view", "string", "all (default), recent (opened, last opened first), owned, shared (with you) or starred"), ("sort", "string", "edited (default, last edited first), name or created (newest first)"), ("limit", "integer", "documents per page (default 100, at most 500)"), ("cursor", "string", "the X-Next-Cursor header of the previous page, present when there is one")],
            ..op("documents", "Documents you may open, as a view chooses and sorted; the next page's cursor in the X-Next-Cursor header", None, (200, Some("DocInfoList")))
        },
        ("POST", "/api/docs") => op("documents", "Create a document you own, empty or with initial content (`content` in Markdown, or HTML with `format: html`)", Some("NewDoc"), (201, Some("DocInfo"))),
        ("POST", "/api/docs/import") => Op {
            query: &[("format", "string", "markdown (default) or html"), ("title", "string", "title (default: the first heading)")],
            ..op("documents", "Import Markdown or HTML (sanitized) into a new document", Some("text"), (201, Some("DocInfo")))
        },
        ("PUT", "/api/docs/{doc}/star") => op("documents", "Star a document you may open (accounts)", None, (204, None)),
        ("DELETE", "/api/docs/{doc}/star") => op("documents", "Unstar a document", None, (204, None)),
        ("GET", "/api/docs/{doc}") => op("documents", "A document's metadata, durable revision and your role", None, (200, Some("DocInfo"))),
        ("PATCH", "/api/docs/{doc}") => op("documents", "Rename (editor or owner)", Some("Title"), (200, Some("DocInfo"))),
        ("DELETE", "/api/docs/{doc}") => op("documents", "Delete (owner); open sockets close with 4403", None, (204, None)),
        ("GET", "/api/search") => Op {
            query: &[("q", "string", "words; each matches as a prefix, all are required; anything but letters and digits only separates words"), ("limit", "integer", "results per page (default 20, at most 50)"), ("cursor", "string", "next_cursor from the previous page")],
            ..op("search", "Full-text search over titles, text and comments of the documents you may open, best first; snippets are HTML with the text escaped and matches in <mark>", None, (200, Some("SearchPage")))
        },
        ("GET", "/api/notifications") => Op {
            query: &[("before", "integer", "page back from this notification id"), ("limit", "integer", "per page (default 30, at most 100)")],
            ..op("notifications", "Your notifications (mentions, replies to your threads, shares), newest first, only about documents you may open now; with the unread count", None, (200, Some("NotificationPage")))
        },
        ("POST", "/api/notifications/read") => op("notifications", "Mark one notification read ({\"id\": n}) or all of them (no body)", Some("MarkRead"), (200, Some("Unread"))),
        ("GET", "/api/notifications/stream") => op("notifications", "Server-sent events: `unread` with {\"unread\": n} now and at every change; ends when the access token would expire (reopen it with a fresh one)", None, (200, Some("text"))),
        ("GET", "/api/notifications/unsubscribe") => Op {
            query: &[("user", "integer", "from the email's link"), ("kind", "string", "mention, reply or share"), ("token", "string", "the link's signature")],
            ..public(op("notifications", "The page an email's unsubscribe link opens (HTML, one button)", None, (200, Some("text"))))
        },
        ("POST", "/api/notifications/unsubscribe") => Op {
            query: &[("user", "integer", "from the email's link"), ("kind", "string", "mention, reply or share"), ("token", "string", "the link's signature")],
            ..public(op("notifications", "Stop emails of one kind (the page's button, and RFC 8058 one-click unsubscribe)", None, (200, Some("text"))))
        },
        ("GET", "/api/me/email") => op("notifications", "Which kinds of notification are not emailed to you", None, (200, Some("EmailSettings"))),
        ("PUT", "/api/me/email") => op("notifications", "Turn one kind's email on or off", Some("EmailChange"), (200, Some("EmailSettings"))),
        ("GET", "/api/docs/{doc}/people") => Op {
            query: &[("q", "string", "part of a name"), ("ids", "string", "comma-separated account ids instead (at most 50): the current names of a document's mentions")],
            ..op("notifications", "Whom you may mention here (commenter and up): the document's people first (with their role), then people who share other documents with you (role null: mentioning them offers to share); names only, never addresses", None, (200, Some("PersonList")))
        },
        ("GET", "/api/docs/{doc}/changes") => Op {
            query: &[("after", "integer", "the feed starts after this revision (default 0: from the first); past the latest revision: 400"), ("limit", "integer", "changes per page (default 100, at most 1000; at most 100 with text)"), ("include", "string", "comma-separated: update (each change's Yjs update, v1, base64), text (the words it added and removed); anything else: 400")],
            ..op("feed", "The document's durable revisions after a revision, in order with no gaps (viewer and up); revisions compacted away answer 410 with `oldest`, the first one still available", None, (200, Some("FeedPage")))
        },
        ("GET", "/api/docs/{doc}/changes/stream") => Op {
            query: &[("after", "integer", "start after this revision (the Last-Event-ID header wins)"), ("include", "string", "update and/or text, as for the pages")],
            ..op("feed", "Server-sent events: a `change` event per durable revision, its id the revision, so a reconnect with Last-Event-ID resumes exactly; ends when the access token would expire or access is removed", None, (200, Some("text")))
        },
        ("GET", "/api/changes/stream") => op("feed", "Server-sent events across every document you may read: a `change` event ({doc, revision, author, author_name, at}, id doc:revision) per durable revision from the time it is opened, gap-free per document from the first one heard; to resume exactly, follow each document's own feed", None, (200, Some("text"))),
        ("GET", "/api/docs/{doc}/webhooks") => op("webhooks", "The document's webhooks (owners), with the deliveries waiting for each", None, (200, Some("WebhookList"))),
        ("POST", "/api/docs/{doc}/webhooks") => op("webhooks", "Register a webhook on the document (owners): a public http(s) URL (checked after DNS resolution), the events, and optionally a secret (else one is made); the secret is in this answer only", Some("NewWebhook"), (201, Some("CreatedWebhook"))),
        ("GET", "/api/webhooks") => op("webhooks", "Webhooks on every document (administrators)", None, (200, Some("WebhookList"))),
        ("POST", "/api/webhooks") => op("webhooks", "Register a webhook on every document (administrators)", Some("NewWebhook"), (201, Some("CreatedWebhook"))),
        ("PATCH", "/api/webhooks/{id}") => op("webhooks", "Turn a webhook off (its queue is dropped) or on again (its failures forgotten; deliveries start with the next change)", Some("WebhookUpdate"), (200, Some("Webhook"))),
        ("DELETE", "/api/webhooks/{id}") => op("webhooks", "Delete a webhook, its queue and its log", None, (204, None)),
        ("GET", "/api/webhooks/{id}/deliveries") => op("webhooks", "The webhook's last 100 deliveries, newest first: status, latency, response code, error", None, (200, Some("DeliveryList"))),
        ("POST", "/api/webhooks/{id}/test") => op("webhooks", "Send a signed `ping` delivery now and answer what happened (also kept in the log)", None, (200, Some("Delivery"))),
        ("POST", "/api/docs/{doc}/content") => Op {
            query: &[("format", "string", "markdown (default), html (sanitized) or json (ProseMirror, held to the editor's schema)"), ("mode", "string", "append (default), prepend or replace")],
            ..op("documents", "Write Markdown or HTML into the document (editor or owner) as one revision every open editor receives live; answers once it is durable. 413 for content too large for one update, before anything is applied", Some("text"), (200, Some("Written")))
        },
        ("GET", "/api/docs/{doc}/state") => op("documents", "The encoded Yjs state at exactly the revision in X-Tandem-Revision", None, (200, Some("binary"))),
        ("GET", "/api/docs/{doc}/export") => Op {
            query: &[("format", "string", "markdown (default), html, text or json (ProseMirror)"), ("rev", "integer", "a past revision (default: the current one)"), ("suggestions", "string", "include: pending suggestions marked up (ins/del, CriticMarkup); leave-out (default): the document as it stands before they are accepted")],
            ..op("documents", "Export, now or as it was at a revision", None, (200, Some("text")))
        },
        ("POST", "/api/docs/{doc}/files") => op("files", "Attach a file (editor or owner): the raw bytes as the body, or one file in a multipart/form-data body. Stored content-addressed (SHA-256); the type is sniffed from the bytes, never taken from the request. 413 past --max-upload-bytes, 415 for programs and unrecognised binaries, 429 past the per-user upload rate", Some("binary"), (201, Some("StoredFile"))),
        ("GET", "/api/docs/{doc}/files/{id}") => Op {
            query: &[("name", "string", "the name a download is saved under (attachments)")],
            ..op("files", "A file of the document (viewer and up; the access token in the Authorization header or the HttpOnly files cookie): raster images inline, everything else (SVG and HTML included) as an attachment; nosniff, a sandbox CSP, Cache-Control: private, max-age=31536000, immutable", None, (200, Some("binary")))
        },
        ("GET", "/api/docs/{doc}/history") => Op {
            query: &[("before", "integer", "page backwards from this revision")],
            ..op("history", "Versions: revisions grouped by author and 5 minutes of quiet, newest first", None, (200, Some("VersionList")))
        },
        ("POST", "/api/docs/{doc}/restore") => op("history", "Make the content equal to a past revision, as a new revision (editor or owner)", Some("RestoreRequest"), (200, Some("Restored"))),
        ("PUT", "/api/docs/{doc}/versions/{rev}") => op("history", "Name a revision (editor or owner); named versions are kept apart in the history", Some("VersionName"), (204, None)),
        ("DELETE", "/api/docs/{doc}/versions/{rev}") => op("history", "Remove a version's name (editor or owner)", None, (204, None)),
        ("GET", "/api/docs/{doc}/comments") => op("comments", "Comment threads with their replies, oldest first", None, (200, Some("ThreadList"))),
        ("POST", "/api/docs/{doc}/comments") => op("comments", "Start a thread on a text range (commenter and up)", Some("NewThread"), (201, Some("Created"))),
        ("POST", "/api/docs/{doc}/comments/{thread}/replies") => op("comments", "Reply to a thread (commenter and up)", Some("NewReply"), (201, Some("Created"))),
        ("PATCH", "/api/docs/{doc}/comments/{thread}") => op("comments", "Rewrite your own comment (its author only)", Some("NewReply"), (204, None)),
        ("DELETE", "/api/docs/{doc}/comments/{thread}") => op("comments", "Delete your own comment; a thread's first comment deletes the thread (its author only)", None, (204, None)),
        ("POST", "/api/docs/{doc}/comments/{thread}/resolve") => op("comments", "Resolve a thread (commenter and up)", None, (204, None)),
        ("POST", "/api/docs/{doc}/comments/{thread}/reopen") => op("comments", "Reopen a resolved thread (commenter and up)", None, (204, None)),
        ("GET", "/api/docs/{doc}/shares") => op("sharing", "People and links with access (owner)", None, (200, Some("Shares"))),
        ("POST", "/api/docs/{doc}/shares") => op("sharing", "Grant a role to an account by email (owner); an email with no account gets an invitation (202 Invitation) that becomes the share at sign-up", Some("Grant"), (200, Some("Share"))),
        ("PUT", "/api/docs/{doc}/settings") => op("sharing", "Owners choose whether editors may share (up to editor)", Some("DocSettings"), (204, None)),
        ("DELETE", "/api/docs/{doc}/invitations/{user}") => op("sharing", "Withdraw an invitation; `{user}` is the invited email (owner)", None, (204, None)),
        ("DELETE", "/api/docs/{doc}/shares/{user}") => op("sharing", "Remove someone's access; their sockets close within a second (owner)", None, (204, None)),
        ("POST", "/api/docs/{doc}/links") => op("sharing", "Create a share link with a role and optional expiry (owner); the token is shown once", Some("NewLink"), (201, Some("CreatedLink"))),
        ("DELETE", "/api/docs/{doc}/links/{link}") => op("sharing", "Revoke a share link; its members lose access (owner)", None, (204, None)),
        ("POST", "/api/docs/{doc}/access-requests") => op("sharing", "Ask the owners for access; 202 whether or not the document exists", None, (202, None)),
        ("DELETE", "/api/docs/{doc}/access-requests/{user}") => op("sharing", "Dismiss an access request (owner)", None, (204, None)),
        ("POST", "/api/links/preview") => op("sharing", "What a share link opens (title, role, who shared it), without signing in", Some("Redeem"), (200, Some("LinkPreview"))),
        ("POST", "/api/links/redeem") => op("sharing", "Open a share link: gives you its role while the link lives", Some("Redeem"), (200, Some("Redeemed"))),
        ("GET", "/api/admin/users") => op("admin", "All accounts (administrators)", None, (200, Some("UserList"))),
        ("POST", "/api/admin/users/{user}/disable") => op("admin", "Disable an account: sessions revoked, sockets closed (administrators)", None, (204, None)),
        ("POST", "/api/admin/users/{user}/enable") => op("admin", "Enable an account (administrators)", None, (204, None)),
        ("GET", "/api/admin/audit") => Op {
            query: &[("limit", "integer", "most events (default 100, at most 1000)")],
            ..op("admin", "The security audit log, newest first (administrators)", None, (200, Some("AuditList")))
        },
        ("GET", "/ws/{doc}") => Op {
            query: &[("token", "string", "access token for stock Yjs clients (tandem.v1 clients send it in band)")],
            ..op("sync", "WebSocket: the Yjs sync protocol plus the tandem.v1 extensions (docs/protocol.md)", None, (101, None))
        },
        ("GET", "/api/auth/oidc/start") => public(Op {
            query: &[("next", "string", "the path to return to once signed in (default /)")],
            ..op("auth", "Single sign-on: redirects to the OpenID provider (303), the flow in a signed cookie", None, (303, None))
        }),
        ("GET", "/api/auth/oidc/callback") => public(Op {
            query: &[("code", "string", "from the provider"), ("state", "string", "from the provider, checked against the flow cookie")],
            ..op("auth", "Single sign-on: the provider's answer; signs in and redirects (303) to `next`, or back with `sso_error`", None, (303, None))
        }),
        ("GET", "/hocuspocus") => op("sync", "WebSocket: Tiptap's Hocuspocus provider protocol, documents named in each message, the token in its auth message (docs/protocol.md)", None, (101, None)),
        _ => return None,
    })
}

fn obj(props: &[(&str, Value)], required: &[&str]) -> Value {
    let props: Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut o = json!({ "type": "object", "properties": props });
    // OpenAPI 3.0 forbids an empty `required` list.
    if !required.is_empty() {
        o["required"] = json!(required);
    }
    o
}

fn s(t: &str) -> Value {
    json!({ "type": t })
}

fn r(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn role() -> Value {
    json!({ "type": "string", "enum": ["viewer", "commenter", "editor", "owner"] })
}

fn schemas() -> Value {
    let user = obj(
        &[
            ("id", s("integer")),
            ("email", s("string")),
            ("name", s("string")),
            ("is_admin", s("boolean")),
            ("disabled", s("boolean")),
            ("created_at", s("integer")),
        ],
        &["id", "email", "name", "is_admin"],
    );
    let doc = obj(
        &[
            ("id", s("string")),
            ("title", s("string")),
            ("revision", s("integer")),
            ("created_at", json!({"type": "integer", "nullable": true})),
            ("updated_at", json!({"type": "integer", "nullable": true})),
            ("role", role()),
            ("editors_can_share", s("boolean")),
            ("updated_by", r("Author")),
            ("owner", r("Author")),
            ("shared", s("boolean")),
            ("starred", s("boolean")),
        ],
        &[
            "id",
            "title",
            "revision",
            "created_at",
            "updated_at",
            "role",
        ],
    );
    let link = obj(
        &[
            ("id", s("string")),
            ("doc", s("string")),
            ("role", role()),
            ("expires_at", json!({"type": "integer", "nullable": true})),
            ("revoked", s("boolean")),
            ("created_at", s("integer")),
            ("public", s("boolean")),
        ],
        &[
            "id",
            "doc",
            "role",
            "expires_at",
            "revoked",
            "created_at",
            "public",
        ],
    );
    let share = obj(
        &[
            ("user", r("User")),
            ("role", role()),
            ("via_link", s("string")),
        ],
        &["user", "role"],
    );
    let version = obj(
        &[
            ("rev", s("integer")),
            ("first_rev", s("integer")),
            ("name", json!({"type": "string", "nullable": true})),
            ("author", json!({"nullable": true, "allOf": [r("Author")]})),
            ("started_at", s("integer")),
            ("ended_at", s("integer")),
            (
                "suggestions",
                json!({"type": "array", "items": r("SuggestionChange")}),
            ),
        ],
        &[
            "rev",
            "first_rev",
            "author",
            "name",
            "started_at",
            "ended_at",
            "suggestions",
        ],
    );
    let suggestion_change = obj(
        &[
            ("id", s("string")),
            (
                "kind",
                json!({"type": "string", "enum": ["insert", "delete"]}),
            ),
            (
                "outcome",
                json!({"type": "string", "enum": ["made", "accepted", "rejected"]}),
            ),
            ("quote", s("string")),
            (
                "suggested_by",
                json!({"nullable": true, "allOf": [r("Author")]}),
            ),
        ],
        &["id", "kind", "outcome", "quote", "suggested_by"],
    );
    let audit = obj(
        &[
            ("at", s("integer")),
            ("event", s("string")),
            ("user_id", json!({"type": "integer", "nullable": true})),
            ("ip", json!({"type": "string", "nullable": true})),
            ("detail", s("string")),
        ],
        &["at", "event", "detail"],
    );
    json!({
        "Error": obj(&[("error", s("string"))], &["error"]),
        "User": user,
        "UserList": { "type": "array", "items": r("User") },
        "AuthConfig": obj(&[("mode", json!({"type": "string", "enum": ["accounts", "none"]})), ("allow_signup", s("boolean")), ("access_token_ttl_secs", s("integer")), ("sso", s("boolean")), ("password_login", s("boolean"))], &["mode", "allow_signup", "access_token_ttl_secs", "sso", "password_login"]),
        "Signup": obj(&[("email", s("string")), ("name", s("string")), ("password", json!({"type": "string", "minLength": 10}))], &["email", "password"]),
        "Login": obj(&[("email", s("string")), ("password", s("string"))], &["email", "password"]),
        "Session": obj(&[("user", r("User")), ("access_token", s("string")), ("expires_at", s("integer"))], &["user", "access_token", "expires_at"]),
        "PasswordChange": obj(&[("current", s("string")), ("new", s("string"))], &["current", "new"]),
        "Title": obj(&[("title", s("string"))], &[]),
        "NewDoc": obj(&[("title", s("string")), ("content", s("string")), ("format", s("string"))], &[]),
        "DocInfo": doc,
        "DocInfoList": { "type": "array", "items": r("DocInfo") },
        "SearchHit": obj(&[("doc", s("string")), ("title", s("string")), ("snippet", s("string")), ("updated_at", s("integer"))], &["doc", "title", "snippet", "updated_at"]),
        "Written": obj(&[("revision", json!({"type": "integer", "nullable": true})), ("changed", s("boolean"))], &["changed"]),
        "Change": obj(&[("revision", s("integer")), ("author", json!({"type": "string", "nullable": true})), ("author_name", json!({"type": "string", "nullable": true})), ("at", s("integer")), ("update", s("string")), ("text", obj(&[("added", json!({"type": "array", "items": s("string")})), ("removed", json!({"type": "array", "items": s("string")}))], &["added", "removed"]))], &["revision", "at"]),
        "FeedPage": obj(&[("changes", json!({"type": "array", "items": r("Change")})), ("next_after", s("integer")), ("head", s("integer"))], &["changes", "next_after", "head"]),
        "Notification": obj(&[("id", s("integer")), ("kind", json!({"type": "string", "enum": ["mention", "reply", "share", "webhook"]})), ("doc", s("string")), ("doc_title", s("string")), ("actor_id", json!({"type": "integer", "nullable": true})), ("actor_name", json!({"type": "string", "nullable": true})), ("place", s("string")), ("detail", s("string")), ("created_at", s("integer")), ("read", s("boolean")), ("text", s("string")), ("link", s("string"))], &["id", "kind", "doc", "doc_title", "actor_id", "actor_name", "place", "detail", "created_at", "read", "text", "link"]),
        "NotificationPage": obj(&[("notifications", json!({"type": "array", "items": r("Notification")})), ("unread", s("integer"))], &["notifications", "unread"]),
        "MarkRead": obj(&[("id", s("integer"))], &[]),
        "Unread": obj(&[("unread", s("integer"))], &["unread"]),
        "EmailSettings": obj(&[("muted", json!({"type": "array", "items": s("string")}))], &["muted"]),
        "EmailChange": obj(&[("kind", s("string")), ("email", s("boolean"))], &["kind", "email"]),
        "Person": obj(&[("id", s("integer")), ("name", s("string")), ("role", json!({"type": "string", "nullable": true, "enum": ["viewer", "commenter", "editor", "owner", null]}))], &["id", "name", "role"]),
        "PersonList": json!({"type": "array", "items": r("Person")}),
        "SearchPage": obj(&[("results", json!({"type": "array", "items": r("SearchHit")})), ("next_cursor", s("string"))], &["results"]),
        "Share": share,
        "ShareLink": link,
        "Shares": obj(&[("shares", json!({"type": "array", "items": r("Share")})), ("links", json!({"type": "array", "items": r("ShareLink")})), ("requests", json!({"type": "array", "items": r("AccessRequest")})), ("invitations", json!({"type": "array", "items": r("Invitation")}))], &["shares", "links", "requests", "invitations"]),
        "LinkPreview": obj(&[("title", s("string")), ("role", role()), ("shared_by", s("string")), ("public", s("boolean"))], &["title", "role", "shared_by", "public"]),
        "Guest": obj(&[("token", s("string"))], &["token"]),
        "DocSettings": obj(&[("editors_can_share", s("boolean"))], &["editors_can_share"]),
        "Invitation": obj(&[("email", s("string")), ("role", role()), ("invited_at", s("integer"))], &["email", "role", "invited_at"]),
        "AccessRequest": obj(&[("user", r("User")), ("requested_at", s("integer"))], &["user", "requested_at"]),
        "Grant": obj(&[("email", s("string")), ("role", role())], &["email", "role"]),
        "NewLink": obj(&[("role", role()), ("expires_in_hours", json!({"type": "number", "nullable": true})), ("public", s("boolean"))], &["role"]),
        "CreatedLink": obj(&[("link", r("ShareLink")), ("token", s("string")), ("path", s("string"))], &["link", "token", "path"]),
        "Redeem": obj(&[("token", s("string"))], &["token"]),
        "Redeemed": obj(&[("doc", s("string")), ("role", role())], &["doc", "role"]),
        "Version": version,
        "SuggestionChange": suggestion_change,
        "VersionList": { "type": "array", "items": r("Version") },
        "NewThread": obj(&[("body", s("string")), ("anchor", s("string")), ("quote", s("string"))], &["body"]),
        "NewReply": obj(&[("body", s("string"))], &["body"]),
        "Created": obj(&[("id", s("string"))], &["id"]),
        "Author": obj(&[("id", s("integer")), ("name", s("string"))], &["id", "name"]),
        "Comment": obj(&[("id", s("string")), ("author", json!({"nullable": true, "allOf": [r("Author")]})), ("body", s("string")), ("created_at", s("integer"))], &["id", "author", "body", "created_at"]),
        "Thread": obj(&[("id", s("string")), ("anchor", s("string")), ("quote", s("string")), ("resolved_at", json!({"type": "integer", "nullable": true})), ("comments", json!({"type": "array", "items": r("Comment")}))], &["id", "anchor", "quote", "resolved_at", "comments"]),
        "ThreadList": { "type": "array", "items": r("Thread") },
        "VersionName": obj(&[("name", s("string"))], &["name"]),
        "RestoreRequest": obj(&[("rev", s("integer"))], &["rev"]),
        "Restored": obj(&[("revision", s("integer")), ("restored_from", s("integer")), ("changed", s("boolean"))], &["revision", "restored_from", "changed"]),
        "StoredFile": obj(&[("id", s("string")), ("url", s("string")), ("type", s("string")), ("size", s("integer"))], &["id", "url", "type", "size"]),
        "Webhook": obj(&[("id", s("string")), ("doc", json!({"type": "string", "nullable": true})), ("owner_id", s("integer")), ("url", s("string")), ("events", json!({"type": "array", "items": {"type": "string", "enum": ["changed", "comment", "share", "deleted"]}})), ("enabled", s("boolean")), ("failing_since", json!({"type": "integer", "nullable": true})), ("disabled_reason", s("string")), ("created_at", s("integer"))], &["id", "doc", "owner_id", "url", "events", "enabled", "failing_since", "disabled_reason", "created_at"]),
        "WebhookWithQueue": json!({"allOf": [r("Webhook"), obj(&[("pending", s("integer"))], &["pending"])]}),
        "WebhookList": json!({"type": "array", "items": r("WebhookWithQueue")}),
        "CreatedWebhook": json!({"allOf": [r("Webhook"), obj(&[("secret", s("string"))], &["secret"])]}),
        "NewWebhook": obj(&[("url", s("string")), ("events", json!({"type": "array", "items": {"type": "string", "enum": ["changed", "comment", "share", "deleted"]}})), ("secret", json!({"type": "string", "minLength": 16, "maxLength": 256}))], &["url", "events"]),
        "WebhookUpdate": obj(&[("enabled", s("boolean"))], &["enabled"]),
        "Delivery": obj(&[("delivery", s("string")), ("event", s("string")), ("doc", s("string")), ("rev_from", s("integer")), ("rev_to", s("integer")), ("ok", s("boolean")), ("status", json!({"type": "integer", "nullable": true})), ("latency_ms", s("integer")), ("error", s("string")), ("at", s("integer"))], &["delivery", "event", "doc", "rev_from", "rev_to", "ok", "status", "latency_ms", "error", "at"]),
        "DeliveryList": json!({"type": "array", "items": r("Delivery")}),
        "ApiToken": obj(&[("id", s("string")), ("user_id", s("integer")), ("user_name", s("string")), ("name", s("string")), ("scopes", json!({"type": "array", "items": {"type": "string", "enum": ["read", "write", "admin"]}})), ("created_at", s("integer")), ("last_used_at", json!({"type": "integer", "nullable": true})), ("expires_at", json!({"type": "integer", "nullable": true}))], &["id", "user_id", "user_name", "name", "scopes", "created_at", "last_used_at", "expires_at"]),
        "TokenList": obj(&[("tokens", json!({"type": "array", "items": r("ApiToken")})), ("service", json!({"type": "array", "items": r("ApiToken")}))], &["tokens", "service"]),
        "NewToken": obj(&[("name", s("string")), ("scopes", json!({"type": "array", "items": {"type": "string", "enum": ["read", "write", "admin"]}})), ("service", s("string")), ("expires_in_days", s("integer"))], &["name", "scopes"]),
        "CreatedToken": json!({"allOf": [r("ApiToken"), obj(&[("token", s("string"))], &["token"])]}),
        "AuditEvent": audit,
        "AuditList": { "type": "array", "items": r("AuditEvent") },
    })
}

fn body_content(schema: &str) -> Value {
    match schema {
        "text" => json!({ "text/plain": { "schema": { "type": "string" } } }),
        "binary" => {
            json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } })
        }
        "object" => json!({ "application/json": { "schema": { "type": "object" } } }),
        name => json!({ "application/json": { "schema": r(name) } }),
    }
}

/// The whole document.
pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path) in ROUTES.iter().chain([&super::FILE_ROUTE]) {
        let Some(op) = describe(method, path) else {
            continue;
        };
        let mut params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }))
            .collect();
        params.extend(op.query.iter().map(|(name, t, d)| {
            json!({ "name": name, "in": "query", "required": false, "description": d, "schema": { "type": t } })
        }));
        let (status, schema) = op.response;
        let mut ok = json!({ "description": op.summary });
        if let Some(schema) = schema {
            ok["content"] = body_content(schema);
        }
        let err = json!({ "description": "Error", "content": body_content("Error") });
        let mut responses = Map::new();
        responses.insert(status.to_string(), ok);
        responses.insert(
            "400".into(),
            json!({ "description": "Bad request", "content": body_content("Error") }),
        );
        if !op.public {
            responses.insert(
                "401".into(),
                json!({ "description": "No valid access token", "content": body_content("Error") }),
            );
            responses.insert("403".into(), json!({ "description": "Your role does not allow this", "content": body_content("Error") }));
            responses.insert("404".into(), json!({ "description": "No such document, or not shared with you", "content": body_content("Error") }));
        }
        responses.insert("429".into(), json!({ "description": "Rate limited (see Retry-After)", "content": body_content("Error") }));
        responses.insert("503".into(), err);
        let mut operation = json!({
            "tags": [op.tag],
            "summary": op.summary,
            "operationId": format!("{}{}", method.to_lowercase(), path.replace(['/', '{', '}', '.', '-'], "_")),
            "parameters": params,
            "responses": responses,
        });
        if let Some(req) = op.request {
            operation["requestBody"] = json!({ "required": true, "content": body_content(req) });
        }
        if op.public {
            operation["security"] = json!([]);
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method.to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Tandem",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Real-time collaborative documents. The sync protocol (WebSocket) is in docs/protocol.md; the security model in docs/security.md."
        },
        "servers": [{ "url": "/" }],
        "components": {
            "schemas": schemas(),
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "bearerFormat": "an access token (JWT) from sign-in, or an API token (tdm_…)" } }
        },
        "security": [{ "bearer": [] }],
        "paths": paths,
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    /// The web client's types are generated from web/openapi.json (web/src/apiSchema.test.ts
    /// checks that step): it must be this document.
    #[test]
    fn the_web_clients_copy_of_the_document_is_current() {
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../../../../web/openapi.json")).unwrap();
        assert!(
            committed == super::document(),
            "web/openapi.json is stale: run `make api-types`"
        );
    }

    #[test]
    fn every_route_is_described_and_listed() {
        let doc = super::document();
        for (method, path) in super::ROUTES.iter().chain([&crate::routes::FILE_ROUTE]) {
            assert!(
                super::describe(method, path).is_some(),
                "{method} {path} is not described"
            );
            assert!(
                doc["paths"][*path][method.to_lowercase()].is_object(),
                "{method} {path} missing from the document"
            );
        }
        // Every $ref points at a schema that exists.
        let text = doc.to_string();
        for part in text.split("#/components/schemas/").skip(1) {
            let name = part.split('"').next().unwrap();
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "dangling $ref {name}"
            );
        }
    }
}
