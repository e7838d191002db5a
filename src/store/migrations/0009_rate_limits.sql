-- 0009: rate-limit counters shared by every node of a deployment (login
-- starts per connection). Fixed windows: `window_start` is the window's start
-- in Unix seconds, `hits` the events counted in it so far. Windows that have
-- ended are purged (housekeeping, and by the limiter itself), so the table
-- holds little more than the current window's keys.
CREATE TABLE rate_limits (
    key           TEXT NOT NULL,     -- e.g. 'saml:<connection id>'
    window_start  INTEGER NOT NULL,  -- Unix seconds
    hits          INTEGER NOT NULL,
    CONSTRAINT rate_limits_pk PRIMARY KEY (key, window_start)
) STRICT;
CREATE INDEX rate_limits_window_idx ON rate_limits (window_start);
