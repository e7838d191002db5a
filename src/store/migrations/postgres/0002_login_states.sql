-- 0002 (PostgreSQL): short-lived, single-use login state shared by SAML and OIDC
-- (as ../0002_login_states.sql).
CREATE TABLE login_states (
    kind          TEXT COLLATE "C" NOT NULL,   -- e.g. 'saml_request', 'saml_assertion', 'oidc_state'
    key           TEXT COLLATE "C" NOT NULL,
    connection_id TEXT COLLATE "C" NOT NULL,
    data          TEXT COLLATE "C" NOT NULL DEFAULT '{}',  -- JSON
    created_at    TEXT COLLATE "C" NOT NULL,
    expires_at    TEXT COLLATE "C" NOT NULL,
    CONSTRAINT login_states_pk PRIMARY KEY (kind, key)
);
CREATE INDEX login_states_expiry_idx ON login_states (expires_at);
