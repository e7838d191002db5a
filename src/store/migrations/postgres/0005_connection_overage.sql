-- 0005 (PostgreSQL): a connection remembers when its IdP last left a user's
-- groups out (as ../0005_connection_overage.sql).
ALTER TABLE connections ADD COLUMN groups_overage_seen_at TEXT COLLATE "C";
