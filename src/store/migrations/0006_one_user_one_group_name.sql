-- 0006: one person, one user; one name, one group (issue 10).
--
-- Group displayNames become unique per org, case-insensitively (Entra matches
-- groups by displayName, and mapping rules name groups by it). A migration
-- must never fail on real data: groups that already share a name keep the
-- oldest one (by created_at, then id) as it is, and every later one is renamed
-- to "<name> (duplicate <id>)" — unique, because ids are — with its version
-- bumped so that SCIM clients see the change, and an audit event each. Their
-- members keep what the mapping gave them until they are next reconciled
-- (applying the mapping again does it for everyone), as in 0004.
CREATE TEMP TABLE renamed_groups AS
SELECT g.id, g.org_id, g.display_name AS old_name
  FROM groups g
 WHERE EXISTS (SELECT 1 FROM groups e
                WHERE e.org_id = g.org_id AND e.display_name_key = g.display_name_key
                  AND (e.created_at < g.created_at OR (e.created_at = g.created_at AND e.id < g.id)));

UPDATE groups
   SET display_name = display_name || ' (duplicate ' || id || ')',
       display_name_key = display_name_key || ' (duplicate ' || lower(id) || ')',
       attributes = json_set(attributes, '$.displayName', display_name || ' (duplicate ' || id || ')'),
       version = version + 1,
       updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE id IN (SELECT id FROM renamed_groups);

INSERT INTO audit_events (org_id, at, actor, action, target, detail)
SELECT r.org_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'migration:0006', 'scim.group.rename_duplicate',
       'group:' || r.id, json_object('from', r.old_name, 'displayName', g.display_name)
  FROM renamed_groups r JOIN groups g ON g.id = r.id
 ORDER BY r.org_id, r.id;

DROP TABLE renamed_groups;

DROP INDEX groups_display_name_idx;
CREATE UNIQUE INDEX groups_display_name_unique ON groups (org_id, display_name_key);

-- Before this version a SCIM POST could duplicate a person who had signed in
-- just in time (origin 'sso') under the same email, and email sign-ins kept
-- matching the older JIT row. Sign-ins now prefer the SCIM row
-- (store::users::by_email), so a JIT duplicate is never matched by email
-- again while the SCIM row lives; the sessions it still holds were made
-- outside the SCIM client's control (a SCIM deactivation would not end them):
-- end them now. The rows themselves stay (grants, audit trail), unchanged.
CREATE TEMP TABLE shadowed_users AS
SELECT j.id, j.org_id
  FROM users j
 WHERE j.origin = 'sso' AND j.deleted = 0 AND j.email_key IS NOT NULL
   AND EXISTS (SELECT 1 FROM users s
                WHERE s.org_id = j.org_id AND s.origin = 'scim' AND s.deleted = 0
                  AND s.email_key = j.email_key AND s.id != j.id);

INSERT INTO audit_events (org_id, at, actor, action, target, detail)
SELECT u.org_id, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), 'migration:0006', 'user.shadowed',
       'user:' || u.id,
       json_object('sessions_revoked',
                   (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL))
  FROM shadowed_users u
 ORDER BY u.org_id, u.id;

UPDATE sessions SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
 WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM shadowed_users);

DROP TABLE shadowed_users;
