-- 0001: the whole idbridge schema, version 1.
-- Every table is STRICT; every constraint that a client can trip is named so
-- store::error maps it to a precise client error (409 uniqueness, ...).
-- Times are RFC 3339 UTC strings with milliseconds (they sort as text).

CREATE TABLE settings (
    key   TEXT NOT NULL CONSTRAINT settings_pk PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE orgs (
    id         TEXT NOT NULL CONSTRAINT orgs_pk PRIMARY KEY,
    slug       TEXT NOT NULL CONSTRAINT orgs_slug_unique UNIQUE,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE projects (
    id         TEXT NOT NULL CONSTRAINT projects_pk PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    slug       TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    CONSTRAINT projects_slug_unique UNIQUE (org_id, slug)
) STRICT;

-- A person as one org knows them: provisioned by SCIM, created just in time by
-- an SSO login, or added by an operator as a (possibly external) collaborator.
CREATE TABLE users (
    id            TEXT NOT NULL CONSTRAINT users_pk PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    origin        TEXT NOT NULL CONSTRAINT users_origin_check CHECK (origin IN ('scim', 'sso', 'manual')),
    user_name     TEXT NOT NULL,
    user_name_key TEXT NOT NULL,            -- Unicode-lowercased userName
    external_id   TEXT,
    email         TEXT,
    email_key     TEXT,                     -- lowercased email
    display_name  TEXT,
    given_name    TEXT,
    family_name   TEXT,
    active        INTEGER NOT NULL DEFAULT 1 CONSTRAINT users_active_check CHECK (active IN (0, 1)),
    attributes    TEXT NOT NULL DEFAULT '{}', -- the full SCIM resource as last written (JSON)
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    CONSTRAINT users_user_name_unique UNIQUE (org_id, user_name_key),
    CONSTRAINT users_external_id_unique UNIQUE (org_id, external_id)
) STRICT;
CREATE INDEX users_email_idx ON users (org_id, email_key);

CREATE TABLE groups (
    id               TEXT NOT NULL CONSTRAINT groups_pk PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    display_name     TEXT NOT NULL,
    display_name_key TEXT NOT NULL,
    external_id      TEXT,
    attributes       TEXT NOT NULL DEFAULT '{}',
    version          INTEGER NOT NULL DEFAULT 1,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT groups_external_id_unique UNIQUE (org_id, external_id)
) STRICT;
CREATE INDEX groups_display_name_idx ON groups (org_id, display_name_key);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT group_members_pk PRIMARY KEY (group_id, user_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX group_members_user_idx ON group_members (user_id);

-- Raw group values from the last SAML/OIDC login through a connection.
CREATE TABLE user_claim_groups (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    connection_id TEXT NOT NULL,
    value         TEXT NOT NULL,
    CONSTRAINT user_claim_groups_pk PRIMARY KEY (user_id, connection_id, value)
) STRICT, WITHOUT ROWID;

-- Grants. source 'mapping' rows are owned by access/ reconciliation; 'manual'
-- rows by the operator. A user's role is the highest of their rows.
CREATE TABLE org_grants (
    org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source          TEXT NOT NULL CONSTRAINT org_grants_source_check CHECK (source IN ('mapping', 'manual')),
    role            TEXT NOT NULL CONSTRAINT org_grants_role_check CHECK (role IN ('admin', 'member')),
    reason          TEXT NOT NULL DEFAULT '{}', -- JSON: what granted it
    mapping_version INTEGER,
    created_at      TEXT NOT NULL,
    CONSTRAINT org_grants_pk PRIMARY KEY (user_id, source)
) STRICT;
CREATE INDEX org_grants_org_idx ON org_grants (org_id);

CREATE TABLE project_grants (
    project_id      TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    source          TEXT NOT NULL CONSTRAINT project_grants_source_check CHECK (source IN ('mapping', 'manual')),
    role            TEXT NOT NULL CONSTRAINT project_grants_role_check CHECK (role IN ('admin', 'member')),
    reason          TEXT NOT NULL DEFAULT '{}',
    mapping_version INTEGER,
    created_at      TEXT NOT NULL,
    CONSTRAINT project_grants_pk PRIMARY KEY (project_id, user_id, source)
) STRICT;
CREATE INDEX project_grants_user_idx ON project_grants (user_id);

CREATE TABLE mappings (
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    document   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    CONSTRAINT mappings_pk PRIMARY KEY (org_id, version)
) STRICT;

CREATE TABLE connections (
    id         TEXT NOT NULL CONSTRAINT connections_pk PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CONSTRAINT connections_kind_check CHECK (kind IN ('saml', 'oidc')),
    name       TEXT NOT NULL,
    config     TEXT NOT NULL,          -- JSON, no secrets
    secret     BLOB,                   -- encrypted JSON (secrets::SecretBox)
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX connections_org_idx ON connections (org_id);

CREATE TABLE scim_tokens (
    id           TEXT NOT NULL CONSTRAINT scim_tokens_pk PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    description  TEXT NOT NULL DEFAULT '',
    token_hash   BLOB NOT NULL CONSTRAINT scim_tokens_hash_unique UNIQUE, -- SHA-256
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
CREATE INDEX scim_tokens_org_idx ON scim_tokens (org_id);

CREATE TABLE signing_keys (
    kid         TEXT NOT NULL CONSTRAINT signing_keys_pk PRIMARY KEY,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    private_key BLOB NOT NULL,          -- encrypted (secrets::SecretBox)
    created_at  TEXT NOT NULL,
    retired_at  TEXT,                   -- no longer signs; still verifies until expires_at
    expires_at  TEXT
) STRICT;

CREATE TABLE sessions (
    jti           TEXT NOT NULL CONSTRAINT sessions_pk PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    connection_id TEXT,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL,
    revoked_at    TEXT
) STRICT;
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE api_keys (
    id           TEXT NOT NULL CONSTRAINT api_keys_pk PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    prefix       TEXT NOT NULL CONSTRAINT api_keys_prefix_unique UNIQUE,
    secret_hash  BLOB NOT NULL,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT
) STRICT;
CREATE INDEX api_keys_project_idx ON api_keys (project_id);
CREATE INDEX api_keys_user_idx ON api_keys (user_id);

CREATE TABLE audit_events (
    id     INTEGER NOT NULL CONSTRAINT audit_events_pk PRIMARY KEY, -- rowid: rows are never deleted, so ids only grow
    org_id TEXT,                        -- no FK: the log outlives what it names
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
) STRICT;
CREATE INDEX audit_events_org_idx ON audit_events (org_id, id);
