-- 0012: the SCIM list of an org's groups in its default order (created, id).
-- Cursor pages (RFC 9865) resume with `(created_at, id) > (?, ?)`: with id in
-- the index that is one index range in list order, so a page costs the same
-- at any depth (groups_org_created_idx, without id, left the tie-break to a
-- sort of every row sharing a creation time).
CREATE INDEX groups_scim_list_idx ON groups (org_id, created_at, id);
