-- 0006 (PostgreSQL): one person, one user; one name, one group (as
-- ../0006_one_user_one_group_name.sql, which explains the why).
-- Translation: strftime('%Y-%m-%dT%H:%M:%fZ', 'now') -> to_char(now() AT TIME
-- ZONE 'UTC', ...); json_set -> jsonb_set(...)::text and json_object ->
-- jsonb_build_object(...)::text (the same JSON; PostgreSQL writes it with a
-- space after each colon and its own key order, which a JSON reader ignores).
CREATE TEMP TABLE renamed_groups AS
SELECT g.id, g.org_id, g.display_name AS old_name
  FROM groups g
 WHERE EXISTS (SELECT 1 FROM groups e
                WHERE e.org_id = g.org_id AND e.display_name_key = g.display_name_key
                  AND (e.created_at < g.created_at OR (e.created_at = g.created_at AND e.id < g.id)));

UPDATE groups
   SET display_name = display_name || ' (duplicate ' || id || ')',
       display_name_key = display_name_key || ' (duplicate ' || lower(id) || ')',
       attributes = jsonb_set(attributes::jsonb, '{displayName}',
                              to_jsonb(display_name || ' (duplicate ' || id || ')'))::text,
       version = version + 1,
       updated_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 WHERE id IN (SELECT id FROM renamed_groups);

INSERT INTO audit_events (org_id, at, actor, action, target, detail)
SELECT r.org_id, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'migration:0006',
       'scim.group.rename_duplicate',
       'group:' || r.id, jsonb_build_object('from', r.old_name, 'displayName', g.display_name)::text
  FROM renamed_groups r JOIN groups g ON g.id = r.id
 ORDER BY r.org_id, r.id;

DROP TABLE renamed_groups;

DROP INDEX groups_display_name_idx;
CREATE UNIQUE INDEX groups_display_name_unique ON groups (org_id, display_name_key);

-- JIT duplicates shadowed by a SCIM row of the same email: end their sessions.
CREATE TEMP TABLE shadowed_users AS
SELECT j.id, j.org_id
  FROM users j
 WHERE j.origin = 'sso' AND j.deleted = 0 AND j.email_key IS NOT NULL
   AND EXISTS (SELECT 1 FROM users s
                WHERE s.org_id = j.org_id AND s.origin = 'scim' AND s.deleted = 0
                  AND s.email_key = j.email_key AND s.id != j.id);

INSERT INTO audit_events (org_id, at, actor, action, target, detail)
SELECT u.org_id, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'), 'migration:0006',
       'user.shadowed', 'user:' || u.id,
       jsonb_build_object('sessions_revoked',
                          (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL))::text
  FROM shadowed_users u
 ORDER BY u.org_id, u.id;

UPDATE sessions SET revoked_at = to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM shadowed_users);

DROP TABLE shadowed_users;
