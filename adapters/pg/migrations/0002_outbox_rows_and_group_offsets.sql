-- Dead letters leave through the outbox too: a row is an event (event_type
-- set) or a dead letter (dl_code set), and names the topic it goes to. Rows
-- from before this migration have no topic: they are events for the events
-- topic. The original message travels byte for byte in dl_key, dl_value and
-- dl_headers (packed: name NUL, 4-byte length, value).
ALTER TABLE outbox
    ADD COLUMN topic        text,
    ADD COLUMN dl_code      text,
    ADD COLUMN dl_message   text,
    ADD COLUMN dl_attempts  integer,
    ADD COLUMN dl_group     text,
    ADD COLUMN dl_topic     text,
    ADD COLUMN dl_partition integer,
    ADD COLUMN dl_offset    bigint,
    ADD COLUMN dl_timestamp bigint,
    ADD COLUMN dl_key       bytea,
    ADD COLUMN dl_value     bytea,
    ADD COLUMN dl_headers   bytea,
    ALTER COLUMN event_id DROP NOT NULL,
    ALTER COLUMN event_type DROP NOT NULL,
    ALTER COLUMN event_index DROP NOT NULL,
    ALTER COLUMN time DROP NOT NULL,
    ALTER COLUMN source DROP NOT NULL,
    ALTER COLUMN causation_id DROP NOT NULL,
    ALTER COLUMN correlation_id DROP NOT NULL,
    ALTER COLUMN post_id DROP NOT NULL,
    ALTER COLUMN author_name DROP NOT NULL,
    ALTER COLUMN title DROP NOT NULL,
    ALTER COLUMN body DROP NOT NULL,
    ALTER COLUMN version DROP NOT NULL,
    ALTER COLUMN created_at DROP NOT NULL,
    ALTER COLUMN updated_at DROP NOT NULL,
    ADD CONSTRAINT outbox_event_or_dead_letter
        CHECK ((event_type IS NULL) <> (dl_code IS NULL));

-- Offsets are kept per consumer group: two deployments (or a renamed group)
-- on one database no longer share them. Rows from before this migration
-- belong to no known group; they are kept under '', and a group with no
-- offsets of its own yet starts from them, as the deployment that wrote them
-- would. Workers from before this migration cannot run on it: stop them all,
-- then start the new version.
ALTER TABLE consumer_offsets ADD COLUMN consumer_group text NOT NULL DEFAULT '';
ALTER TABLE consumer_offsets ALTER COLUMN consumer_group DROP DEFAULT;
ALTER TABLE consumer_offsets DROP CONSTRAINT consumer_offsets_pkey;
ALTER TABLE consumer_offsets ADD PRIMARY KEY (consumer_group, topic, partition);
