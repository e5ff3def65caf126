/*
 * A role one process holds at a time (the relay, the drain of held
 * commands) as a lease: a row of `leases` with its holder and an expiry on
 * the database's clock, renewed as the holder works. A session lock would
 * stay with a process that is stopped (SIGSTOP, a frozen VM) but keeps its
 * session; a lease expires anyway, and the next process to ask takes the
 * role over. A holder whose session is gone (it died, or the database was
 * restored from a backup) holds nothing at once, as with a session lock. The holder counts its lease from before it asked, on its own
 * monotonic clock, so it always believes it holds the lease for less time
 * than the database gives it.
 */
#ifndef PW_ADAPTERS_PG_LEASE_PG_H
#define PW_ADAPTERS_PG_LEASE_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "adapters/pg/conn.h"

#define PG_LEASE_MS 5000
/* One without the role asks again this often, in case its holder died or stopped. */
#define PG_LEASE_RETRY_MS 1000

struct pg_lease {
    const char *role;     /* its row's name: "relay", "drain" */
    char token[40];       /* this holder's name: "pid:random" */
    bool held;
    int64_t end_ms;       /* the lease as this holder counts it (monotonic) */
    int64_t last_try_ms;
    bool tried;
};

/* A lease for role, not held, with a token of its own. */
void pg_lease_init(struct pg_lease *l, const char *role);

/* Milliseconds on the monotonic clock. */
int64_t pg_monotonic_ms(void);

/*
 * Takes the role if it is free or expired, or renews it once half of it is
 * gone; without it, asks at most every PG_LEASE_RETRY_MS. *ours says
 * whether this holder has the role, with at least spare_ms of it left.
 * *fresh: it was just taken (a new holder looks for leftovers).
 */
enum pw_err pg_lease_hold(struct pg_lease *l, struct pg_conn *c, int spare_ms, bool *ours,
                          bool *fresh, struct pw_errbuf *err);

/* A new session: nothing of the lease is known held (it may be renewed, by token). */
void pg_lease_forget(struct pg_lease *l);

/* Gives the role up at once (a clean stop), if held; best effort. */
void pg_lease_give_up(struct pg_lease *l, struct pg_conn *c);

#endif
