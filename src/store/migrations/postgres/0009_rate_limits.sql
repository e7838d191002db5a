-- 0009 (PostgreSQL): rate-limit counters shared by every node of a
-- deployment (as ../0009_rate_limits.sql).
CREATE TABLE rate_limits (
    key           TEXT COLLATE "C" NOT NULL,     -- e.g. 'saml:<connection id>'
    window_start  BIGINT NOT NULL,               -- Unix seconds
    hits          BIGINT NOT NULL,
    CONSTRAINT rate_limits_pk PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
