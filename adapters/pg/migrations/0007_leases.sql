-- Roles one worker holds at a time (the relay, the drain of held commands)
-- as leases with an expiry, on the database's clock (adapters/pg/lease_pg.c):
-- a worker that stops (SIGSTOP, a frozen VM) keeps its session, and a
-- session advisory lock with it; a lease expires anyway, and the next
-- worker takes the role over within seconds. One whose session is gone
-- (backend: the holder's pg_backend_pid()) holds nothing at once.
CREATE TABLE leases (
    role text PRIMARY KEY,
    holder text NOT NULL,
    backend int NOT NULL,
    expires_at timestamptz NOT NULL
);
