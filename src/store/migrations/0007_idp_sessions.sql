-- 0007: a session remembers what the IdP said about it, so that the IdP can end
-- it later (SAML Single Logout by NameID and SessionIndex, OIDC back-channel
-- logout by sub and sid, Universal Logout and Shared Signals by subject).
ALTER TABLE sessions ADD COLUMN idp_subject TEXT;        -- SAML NameID, OIDC sub
ALTER TABLE sessions ADD COLUMN idp_session_index TEXT;  -- SAML AuthnStatement SessionIndex
ALTER TABLE sessions ADD COLUMN idp_sid TEXT;            -- OIDC sid claim
-- Other values a logout needs (SAML NameID Format/NameQualifier/SPNameQualifier, ...), JSON.
ALTER TABLE sessions ADD COLUMN idp_data TEXT NOT NULL DEFAULT '{}';
-- Why a session ended (logout, idp_slo, backchannel_logout, ...); NULL while live.
ALTER TABLE sessions ADD COLUMN revoked_reason TEXT;
CREATE INDEX sessions_idp_subject_idx ON sessions (connection_id, idp_subject);
CREATE INDEX sessions_idp_sid_idx ON sessions (connection_id, idp_sid);
