-- 0002: short-lived, single-use login state shared by SAML and OIDC:
-- SAML AuthnRequest ids (InResponseTo), SAML assertion ids (replay cache),
-- OIDC state/nonce/PKCE. Kept in the store so a restart keeps them.
CREATE TABLE login_states (
    kind          TEXT NOT NULL,   -- e.g. 'saml_request', 'saml_assertion', 'oidc_state'
    key           TEXT NOT NULL,
    connection_id TEXT NOT NULL,
    data          TEXT NOT NULL DEFAULT '{}',  -- JSON
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    CONSTRAINT login_states_pk PRIMARY KEY (kind, key)
) STRICT;
CREATE INDEX login_states_expiry_idx ON login_states (expires_at);
