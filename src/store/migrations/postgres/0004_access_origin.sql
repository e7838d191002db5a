-- 0004 (PostgreSQL): access follows who vouches for a user (as ../0004_access_origin.sql).
-- Deleting a connection ends the sessions it made and drops the group claims
-- it asserted: both are found by connection.
CREATE INDEX sessions_connection_idx ON sessions (connection_id);
CREATE INDEX user_claim_groups_connection_idx ON user_claim_groups (connection_id);

-- Connections deleted before this version left live sessions and claim facts
-- behind: end and drop them now. (SQLite's strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
-- is to_char of the UTC time with milliseconds.)
UPDATE sessions SET revoked_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 WHERE revoked_at IS NULL AND connection_id IS NOT NULL
   AND connection_id NOT IN (SELECT id FROM connections);
DELETE FROM user_claim_groups WHERE connection_id NOT IN (SELECT id FROM connections);

-- An operator-made user who already signed in through one of the org's own
-- connections was vouched for by the org's IdP: adopted (origin 'sso').
UPDATE users SET origin = 'sso'
 WHERE origin = 'manual' AND (
   EXISTS (SELECT 1 FROM sessions s JOIN connections c ON c.id = s.connection_id
           WHERE s.user_id = users.id AND c.org_id = users.org_id)
   OR EXISTS (SELECT 1 FROM user_claim_groups g JOIN connections c ON c.id = g.connection_id
              WHERE g.user_id = users.id AND c.org_id = users.org_id));

-- Every other operator-made user loses what the mapping gave them and any SCIM
-- group membership: the mapping applies only to people the IdP vouches for.
DELETE FROM org_grants WHERE source = 'mapping'
   AND user_id IN (SELECT id FROM users WHERE origin = 'manual');
DELETE FROM project_grants WHERE source = 'mapping'
   AND user_id IN (SELECT id FROM users WHERE origin = 'manual');
DELETE FROM group_members WHERE user_id IN (SELECT id FROM users WHERE origin = 'manual');
