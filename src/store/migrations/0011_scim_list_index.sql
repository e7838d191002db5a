-- 0011: the SCIM list of an org's users in its default order (created, id),
-- holding only the rows SCIM shows (store::scim::SCIM_VISIBLE, not deleted).
-- A page, its OFFSET and the list's count walk this index alone: before it,
-- every skipped or counted row cost a table lookup to test `deleted` and
-- `origin` (a page at depth 20,000 took 18 ms, the count of 20,000 users 5.6 ms).
-- The WHERE clause must stay textually the same as the queries' for the
-- planners to prove the index usable; `deleted` and `origin` are also columns
-- so that the queries' own tests of them are answered from the index.
CREATE INDEX users_scim_list_idx ON users (org_id, created_at, id, deleted, origin)
    WHERE deleted = 0 AND origin IN ('scim', 'sso');
