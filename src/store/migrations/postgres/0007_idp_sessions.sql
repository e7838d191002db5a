-- 0007 (PostgreSQL): a session remembers what the IdP said about it, so that the
-- IdP can end it later (as ../0007_idp_sessions.sql).
ALTER TABLE sessions ADD COLUMN idp_subject TEXT COLLATE "C";        -- SAML NameID, OIDC sub
ALTER TABLE sessions ADD COLUMN idp_session_index TEXT COLLATE "C";  -- SAML AuthnStatement SessionIndex
ALTER TABLE sessions ADD COLUMN idp_sid TEXT COLLATE "C";            -- OIDC sid claim
-- Other values a logout needs (SAML NameID Format/NameQualifier/SPNameQualifier, ...), JSON.
ALTER TABLE sessions ADD COLUMN idp_data TEXT COLLATE "C" NOT NULL DEFAULT '{}';
-- Why a session ended (logout, idp_slo, backchannel_logout, ...); NULL while live.
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT COLLATE "C";
CREATE INDEX sessions_idp_subject_idx ON sessions (connection_id, idp_subject);
CREATE INDEX sessions_idp_sid_idx ON sessions (connection_id, idp_sid);
