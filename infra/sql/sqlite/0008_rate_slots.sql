-- Version 8 (SQLite): the shared request budget of each Azure account endpoint. One row per endpoint holds the
-- next free send time (seconds since 1970, the database's clock); every instance claims its slots from it in
-- one short write transaction, so all instances together keep to the account's rate
-- (pipeline/vision/rate_slots.py). Keep in step with ../tsql/0008_rate_slots.sql.

CREATE TABLE rate_slots (
    endpoint   TEXT NOT NULL PRIMARY KEY,
    next_slot  REAL NOT NULL
);
