-- When each outbox row was written, for the metric of the oldest row's age
-- (postworker_outbox_oldest_age_seconds). Rows from before get the time of
-- this migration.
ALTER TABLE outbox ADD COLUMN enqueued_at timestamptz NOT NULL DEFAULT now();
