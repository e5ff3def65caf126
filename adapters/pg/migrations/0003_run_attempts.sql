-- How many runs started at a position: per consumer group, topic and
-- partition, the offset a batch (or, after a death, one message) started at
-- and how many times in a row a run started there. A worker that dies on a
-- message leaves the count behind; the next worker, whichever it is, finds
-- it, and after POSTWORKER_MAX_ATTEMPTS gives the message up as a dead letter.
CREATE TABLE run_attempts (
    consumer_group text    NOT NULL,
    topic          text    NOT NULL,
    partition      integer NOT NULL,
    at_offset      bigint  NOT NULL,
    tries          integer NOT NULL,
    PRIMARY KEY (consumer_group, topic, partition)
);
