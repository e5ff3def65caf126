-- Runs are counted so that a death counts only against the message that
-- was being applied: per consumer group, topic and partition, the offset
-- and token of the last run that started there, whether it was one message
-- alone, and the deaths counted at that offset (only runs alone that died).
-- A start at the same offset whose last token is not the one its caller
-- saw end alive follows a run whose process died. The old counts are not
-- carried over: losing one allows one more try, never one less.
DROP TABLE run_attempts;
CREATE TABLE run_attempts (
    consumer_group text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL,
    at_offset      bigint  NOT NULL,
    token          bigint  NOT NULL,
    ended          bigint  NOT NULL,
    alone          boolean NOT NULL,
    deaths         integer NOT NULL,
    died           boolean NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
);

-- A post whose command failed is parked behind it: its later commands are
-- held (held_commands) until that command is applied or rejected when sent
-- again, or given up (postworker release); then the post drains (its held
-- commands run, oldest first) and the row goes. The failed command is known
-- by its (source, id), or when it was given up undecoded by its value.
-- held counts the held commands, so that holding one and draining the last
-- one meet on this row's lock.
CREATE TABLE parked_posts (
    post_id       text PRIMARY KEY,
    draining      boolean NOT NULL DEFAULT false,
    code          text    NOT NULL,
    failed_source text,
    failed_id     text,
    failed_value  bytea,
    topic         text    NOT NULL,
    partition     integer NOT NULL,
    at_offset     bigint  NOT NULL,
    parked_at     timestamptz NOT NULL DEFAULT now(),
    held          integer NOT NULL DEFAULT 0
);

-- Commands held behind a parked post, in seq order, each the original
-- message byte for byte (headers packed as in the outbox) with where it was
-- read. (source, id) is unique: the same command sent again is a duplicate.
CREATE TABLE held_commands (
    seq            bigserial PRIMARY KEY,
    post_id        text    NOT NULL,
    source         text    NOT NULL,
    id             text    NOT NULL,
    consumer_group text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL,
    at_offset      bigint  NOT NULL,
    ts             bigint  NOT NULL,
    key            bytea,
    value          bytea,
    headers        bytea   NOT NULL,
    held_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, id)
);
CREATE INDEX held_commands_post ON held_commands (post_id, seq);

-- A failed command's dead letter names the post it parked (dlq.parked).
ALTER TABLE outbox ADD COLUMN dl_parked text;
