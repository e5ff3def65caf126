-- The relay role as a lease with an expiry (adapters/pg/outbox_pg.c): one
-- row, the holder's token and when its lease ends, on the database's clock.
-- A relay that stops (SIGSTOP, a frozen VM) keeps its session, and a
-- session advisory lock with it: a lease expires anyway, and the next
-- reader takes the role over within seconds.
CREATE TABLE relay_lease (
    id int PRIMARY KEY CHECK (id = 1),
    holder text NOT NULL,
    expires_at timestamptz NOT NULL
);
