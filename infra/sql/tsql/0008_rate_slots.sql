-- Version 8 (T-SQL): the shared request budget of each Azure account endpoint. One row per endpoint holds the
-- next free send time (seconds since 1970, the database's clock); every instance claims its slots from it in
-- one short transaction whose UPDATE holds the row's exclusive lock to the commit, so all instances together
-- keep to the account's rate (pipeline/vision/rate_slots.py). Keep in step with ../sqlite/0008_rate_slots.sql.
CREATE TABLE dbo.rate_slots (
    endpoint   NVARCHAR(400) NOT NULL CONSTRAINT pk_rate_slots PRIMARY KEY,
    next_slot  FLOAT         NOT NULL
);
GO
