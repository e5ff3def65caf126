-- postworker's tables. Times are timestamptz (microseconds); versions integer.

CREATE TABLE posts (
    post_id     text PRIMARY KEY,
    author_name text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    deleted_at  timestamptz
);

-- The inbox: every processed command, with its outcome ('ok' or the
-- rejection's code), so a redelivery or replay of it changes nothing.
CREATE TABLE inbox (
    source       text NOT NULL,
    id           text NOT NULL,
    outcome      text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);

-- The outbox: events committed with their state change, waiting for the
-- relay. seq is the publication order.
CREATE TABLE outbox (
    seq            bigserial PRIMARY KEY,
    event_id       uuid NOT NULL,
    event_type     text NOT NULL,
    event_index    integer NOT NULL,
    time           timestamptz NOT NULL,
    source         text NOT NULL,
    causation_id   text NOT NULL,
    correlation_id text NOT NULL,
    post_id        text NOT NULL,
    author_name    text NOT NULL,
    title          text NOT NULL,
    body           text NOT NULL,
    version        integer NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    deleted_at     timestamptz
);

-- The next offset of each partition, written with the changes it covers.
CREATE TABLE consumer_offsets (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
