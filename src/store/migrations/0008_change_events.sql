-- 0008: change events. The outbox: every access change writes its event rows
-- in the same transaction as the change, so an acknowledged change has its
-- event and a rolled-back one has none. Ids are monotonic per deployment
-- (AUTOINCREMENT never reuses an id, even after the newest rows are purged).
CREATE TABLE change_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id  TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    type    TEXT NOT NULL,   -- member.added, collaborator.role_changed, user.deprovisioned, ...
    at      TEXT NOT NULL,   -- RFC 3339 UTC with milliseconds
    data    TEXT NOT NULL    -- JSON object, the event's `data`
) STRICT;
CREATE INDEX change_events_org_idx ON change_events (org_id, id);
CREATE INDEX change_events_at_idx ON change_events (at);

-- Webhooks of an org, delivered in commit order: `cursor` is the id of the last
-- event this webhook acknowledged (events after it are pending).
CREATE TABLE webhooks (
    id               TEXT NOT NULL CONSTRAINT webhooks_pk PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL DEFAULT '[]',  -- JSON list of types; [] = all
    secret           BLOB NOT NULL,               -- sealed (SecretBox), never returned after creation
    previous_secret  BLOB,                        -- sealed; also signed with until previous_until
    previous_until   TEXT,
    cursor           INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,  -- failed attempts of the event after `cursor`
    next_attempt_at  TEXT,
    failing_since    TEXT,                        -- first failure of the current run of failures
    last_success_at  TEXT,
    last_failure     TEXT,                        -- JSON {at, status, body (trimmed) | error}
    created_at       TEXT NOT NULL,
    deleted_at       TEXT
) STRICT;
CREATE INDEX webhooks_org_idx ON webhooks (org_id);
