-- 0003 (PostgreSQL): SCIM bookkeeping (as ../0003_scim.sql). A SCIM DELETE keeps
-- the row but frees its userName and externalId and hides it from every SCIM view.
ALTER TABLE users ADD COLUMN deleted BIGINT NOT NULL DEFAULT 0 CONSTRAINT users_deleted_check CHECK (deleted IN (0, 1));
CREATE INDEX users_org_created_idx ON users (org_id, created_at);
CREATE INDEX groups_org_created_idx ON groups (org_id, created_at);
