-- 0005: a connection remembers when its IdP last left a user's groups out
-- (Entra's SAML groups overage: a groups.link claim instead of the groups).
-- Not part of the config JSON: logins set it while an operator may be
-- rewriting the config, and neither must undo the other.
ALTER TABLE connections ADD COLUMN groups_overage_seen_at TEXT;
