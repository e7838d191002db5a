-- 0010 (PostgreSQL): scim_str_cmp, the string comparison of SCIM filters over
-- the stored JSON (src/store/scim_sql_pg.rs), with the semantics of the
-- SQLite connection function of the same name (src/store/functions.rs) and of
-- the in-memory evaluator (src/scim/filter/eval.rs):
-- - case-insensitive compares lower-case both sides as Rust's
--   str::to_lowercase does: full Unicode mappings ('İ' -> 'i̇', two code
--   points) and the contextual final sigma ('ΣΑΣ' -> 'σας'). PostgreSQL's
--   lower() follows the collation: under "C" it folds ASCII only, under a libc
--   locale one code point at a time (no final sigma, 'İ' -> 'i'); ICU's root
--   locale ("und-x-icu") applies the Unicode default case mappings, as Rust.
-- - eq/ne/co/sw/ew compare code points; gt/ge/lt/le order by code point
--   (COLLATE "C": UTF-8 byte order is code-point order), whatever the
--   database's default collation.
-- - never NULL: an unknown operator or a NULL argument is false, so NOT of a
--   comparison never turns unknown (the compiled SQL relies on two-valued leaves).
-- SQL-language and without SET options, so the planner may inline it.
-- The SQLite migration of the same number is a no-op (SQLite registers the
-- function on every connection instead).

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_collation WHERE collname = 'und-x-icu') THEN
        RAISE EXCEPTION 'idbridge needs PostgreSQL built with ICU: collation "und-x-icu" is missing'
            USING HINT = 'SCIM filters lower-case strings as Unicode does (Rust str::to_lowercase); '
                         'only ICU''s root locale does that in PostgreSQL. Install a PostgreSQL built '
                         'with ICU (Debian''s and the PGDG packages are).';
    END IF;
END
$$;

CREATE FUNCTION scim_fold(s text, case_exact boolean) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT (CASE WHEN case_exact THEN s ELSE pg_catalog.lower(s COLLATE "und-x-icu") END) COLLATE "C"
    $$;

CREATE FUNCTION scim_str_cmp(op text, actual text, wanted text, case_exact boolean) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT coalesce(CASE op
            WHEN 'eq' THEN scim_fold(actual, case_exact) = scim_fold(wanted, case_exact)
            WHEN 'ne' THEN scim_fold(actual, case_exact) <> scim_fold(wanted, case_exact)
            WHEN 'co' THEN pg_catalog.strpos(scim_fold(actual, case_exact), scim_fold(wanted, case_exact)) > 0
            WHEN 'sw' THEN pg_catalog.starts_with(scim_fold(actual, case_exact), scim_fold(wanted, case_exact))
            WHEN 'ew' THEN pg_catalog.right(scim_fold(actual, case_exact), pg_catalog.length(scim_fold(wanted, case_exact)))
                           = scim_fold(wanted, case_exact)
            WHEN 'gt' THEN scim_fold(actual, case_exact) > scim_fold(wanted, case_exact)
            WHEN 'ge' THEN scim_fold(actual, case_exact) >= scim_fold(wanted, case_exact)
            WHEN 'lt' THEN scim_fold(actual, case_exact) < scim_fold(wanted, case_exact)
            WHEN 'le' THEN scim_fold(actual, case_exact) <= scim_fold(wanted, case_exact)
        END, false)
    $$;
