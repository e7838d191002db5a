-- 0001 (PostgreSQL): the whole idbridge schema, version 1 — the same logical
-- schema as ../0001_init.sql: same tables, columns, keys, constraint names.
-- Types: SQLite INTEGER -> BIGINT (so one i64 binding serves both engines),
-- TEXT -> TEXT COLLATE "C", BLOB -> BYTEA. COLLATE "C" compares and sorts by
-- code point as SQLite's BINARY does (whatever the database's locale), so ORDER
-- BY, keyset pagination and lower() (ASCII-only, like SQLite's) answer the same
-- on both engines. Flags (active, deleted) stay 0/1 integers with the same
-- CHECK, so SQL written against `deleted = 0` is shared unchanged.
-- No triggers: the SQLite schema has none. The connection function
-- scim_str_cmp (src/store/functions.rs) has no PostgreSQL equivalent yet: the
-- engine that serves from PostgreSQL must compile SCIM filters without it.
-- Times are RFC 3339 UTC strings with milliseconds (they sort as text).

CREATE TABLE settings (
    key   TEXT COLLATE "C" NOT NULL CONSTRAINT settings_pk PRIMARY KEY,
    value TEXT COLLATE "C" NOT NULL
);

CREATE TABLE orgs (
    id         TEXT COLLATE "C" NOT NULL CONSTRAINT orgs_pk PRIMARY KEY,
    slug       TEXT COLLATE "C" NOT NULL CONSTRAINT orgs_slug_unique UNIQUE,
    name       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE projects (
    id         TEXT COLLATE "C" NOT NULL CONSTRAINT projects_pk PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    slug       TEXT COLLATE "C" NOT NULL,
    name       TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    CONSTRAINT projects_slug_unique UNIQUE (org_id, slug)
);

-- A person as one org knows them: provisioned by SCIM, created just in time by
-- an SSO login, or added by an operator as a (possibly external) collaborator.
CREATE TABLE users (
    id            TEXT COLLATE "C" NOT NULL CONSTRAINT users_pk PRIMARY KEY,
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    origin        TEXT COLLATE "C" NOT NULL CONSTRAINT users_origin_check CHECK (origin IN ('scim', 'sso', 'manual')),
    user_name     TEXT COLLATE "C" NOT NULL,
    user_name_key TEXT COLLATE "C" NOT NULL,            -- Unicode-lowercased userName (computed by the code)
    external_id   TEXT COLLATE "C",
    email         TEXT COLLATE "C",
    email_key     TEXT COLLATE "C",                     -- lowercased email
    display_name  TEXT COLLATE "C",
    given_name    TEXT COLLATE "C",
    family_name   TEXT COLLATE "C",
    active        BIGINT NOT NULL DEFAULT 1 CONSTRAINT users_active_check CHECK (active IN (0, 1)),
    attributes    TEXT COLLATE "C" NOT NULL DEFAULT '{}', -- the full SCIM resource as last written (JSON)
    version       BIGINT NOT NULL DEFAULT 1,
    created_at    TEXT COLLATE "C" NOT NULL,
    updated_at    TEXT COLLATE "C" NOT NULL,
    CONSTRAINT users_user_name_unique UNIQUE (org_id, user_name_key),
    CONSTRAINT users_external_id_unique UNIQUE (org_id, external_id)
);
CREATE INDEX users_email_idx ON users (org_id, email_key);

CREATE TABLE groups (
    id               TEXT COLLATE "C" NOT NULL CONSTRAINT groups_pk PRIMARY KEY,
    org_id           TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    display_name     TEXT COLLATE "C" NOT NULL,
    display_name_key TEXT COLLATE "C" NOT NULL,
    external_id      TEXT COLLATE "C",
    attributes       TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    version          BIGINT NOT NULL DEFAULT 1,
    created_at       TEXT COLLATE "C" NOT NULL,
    updated_at       TEXT COLLATE "C" NOT NULL,
    CONSTRAINT groups_external_id_unique UNIQUE (org_id, external_id)
);
CREATE INDEX groups_display_name_idx ON groups (org_id, display_name_key);

CREATE TABLE group_members (
    group_id TEXT COLLATE "C" NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT group_members_pk PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

-- Raw group values from the last SAML/OIDC login through a connection.
CREATE TABLE user_claim_groups (
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id TEXT COLLATE "C" NOT NULL,
    value         TEXT COLLATE "C" NOT NULL,
    CONSTRAINT user_claim_groups_pk PRIMARY KEY (user_id, connection_id, value)
);

-- Grants. source 'mapping' rows are owned by access/ reconciliation; 'manual'
-- rows by the operator. A user's role is the highest of their rows.
CREATE TABLE org_grants (
    org_id          TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source          TEXT COLLATE "C" NOT NULL CONSTRAINT org_grants_source_check CHECK (source IN ('mapping', 'manual')),
    role            TEXT COLLATE "C" NOT NULL CONSTRAINT org_grants_role_check CHECK (role IN ('admin', 'member')),
    reason          TEXT COLLATE "C" NOT NULL DEFAULT '{}', -- JSON: what granted it
    mapping_version BIGINT,
    created_at      TEXT COLLATE "C" NOT NULL,
    CONSTRAINT org_grants_pk PRIMARY KEY (user_id, source)
);
CREATE INDEX org_grants_org_idx ON org_grants (org_id);

CREATE TABLE project_grants (
    project_id      TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id         TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source          TEXT COLLATE "C" NOT NULL CONSTRAINT project_grants_source_check CHECK (source IN ('mapping', 'manual')),
    role            TEXT COLLATE "C" NOT NULL CONSTRAINT project_grants_role_check CHECK (role IN ('admin', 'member')),
    reason          TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    mapping_version BIGINT,
    created_at      TEXT COLLATE "C" NOT NULL,
    CONSTRAINT project_grants_pk PRIMARY KEY (project_id, user_id, source)
);
CREATE INDEX project_grants_user_idx ON project_grants (user_id);

CREATE TABLE mappings (
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    document   TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    created_by TEXT COLLATE "C" NOT NULL,
    CONSTRAINT mappings_pk PRIMARY KEY (org_id, version)
);

CREATE TABLE connections (
    id         TEXT COLLATE "C" NOT NULL CONSTRAINT connections_pk PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind       TEXT COLLATE "C" NOT NULL CONSTRAINT connections_kind_check CHECK (kind IN ('saml', 'oidc')),
    name       TEXT COLLATE "C" NOT NULL,
    config     TEXT COLLATE "C" NOT NULL,          -- JSON, no secrets
    secret     BYTEA,                  -- encrypted JSON (secrets::SecretBox)
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL
);
CREATE INDEX connections_org_idx ON connections (org_id);

CREATE TABLE scim_tokens (
    id           TEXT COLLATE "C" NOT NULL CONSTRAINT scim_tokens_pk PRIMARY KEY,
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    description  TEXT COLLATE "C" NOT NULL DEFAULT '',
    token_hash   BYTEA NOT NULL CONSTRAINT scim_tokens_hash_unique UNIQUE, -- SHA-256
    prefix       TEXT COLLATE "C" NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX scim_tokens_org_idx ON scim_tokens (org_id);

CREATE TABLE signing_keys (
    kid         TEXT COLLATE "C" NOT NULL CONSTRAINT signing_keys_pk PRIMARY KEY,
    alg         TEXT COLLATE "C" NOT NULL,
    public_jwk  TEXT COLLATE "C" NOT NULL,
    private_key BYTEA NOT NULL,         -- encrypted (secrets::SecretBox)
    created_at  TEXT COLLATE "C" NOT NULL,
    retired_at  TEXT COLLATE "C",                   -- no longer signs; still verifies until expires_at
    expires_at  TEXT COLLATE "C"
);

CREATE TABLE sessions (
    jti           TEXT COLLATE "C" NOT NULL CONSTRAINT sessions_pk PRIMARY KEY,
    user_id       TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id        TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    connection_id TEXT COLLATE "C",
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    last_seen_at  TEXT COLLATE "C" NOT NULL,
    revoked_at    TEXT COLLATE "C"
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_keys (
    id           TEXT COLLATE "C" NOT NULL CONSTRAINT api_keys_pk PRIMARY KEY,
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    project_id   TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT COLLATE "C" NOT NULL DEFAULT '',
    prefix       TEXT COLLATE "C" NOT NULL CONSTRAINT api_keys_prefix_unique UNIQUE,
    secret_hash  BYTEA NOT NULL,
    created_at   TEXT COLLATE "C" NOT NULL,
    revoked_at   TEXT COLLATE "C"
);
CREATE INDEX api_keys_project_idx ON api_keys (project_id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

-- SQLite's rowid alias: an id the database assigns when the insert names none.
CREATE TABLE audit_events (
    id     BIGINT GENERATED BY DEFAULT AS IDENTITY CONSTRAINT audit_events_pk PRIMARY KEY,
    org_id TEXT COLLATE "C",                        -- no FK: the log outlives what it names
    at     TEXT COLLATE "C" NOT NULL,
    actor  TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
