/* Roles held one process at a time, as leases on the database's clock (lease_pg.h). */
#include "adapters/pg/lease_pg.h"

#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Takes the lease if it is free or expired, or renews it if it is ours: a row if ours now. */
static const char lease_sql[] =
    "INSERT INTO leases AS l (role, holder, backend, expires_at)"
    " VALUES ($1, $2, pg_backend_pid(), clock_timestamp() + $3::int * interval '1 millisecond')"
    " ON CONFLICT (role) DO UPDATE SET holder = excluded.holder, backend = excluded.backend,"
    " expires_at = excluded.expires_at"
    " WHERE l.holder = excluded.holder OR l.expires_at < clock_timestamp()"
    /* a holder whose session ended (it died; a restored database) holds nothing */
    " OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend)"
    " RETURNING 1";

int64_t pg_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pg_lease_init(struct pg_lease *l, const char *role)
{
    *l = (struct pg_lease){.role = role};
    uint64_t r[2] = {0};
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        r[0] = (uint64_t)pg_monotonic_ms();
        r[1] = (uint64_t)(uintptr_t)l;
    }
    /* pid first: an operator can tell which process holds a role (SELECT * FROM leases). */
    snprintf(l->token, sizeof l->token, "%ld:%016llx", (long)getpid(),
             (unsigned long long)(r[0] ^ r[1]));
}

enum pw_err pg_lease_hold(struct pg_lease *l, struct pg_conn *c, int spare_ms, bool *ours,
                          bool *fresh, struct pw_errbuf *err)
{
    int64_t now = pg_monotonic_ms();
    enum pw_err rc = PW_OK;
    bool was = l->held;
    *fresh = false;
    bool renew = l->held && l->end_ms - now < PG_LEASE_MS / 2;
    bool ask = !l->held && (!l->tried || now - l->last_try_ms >= PG_LEASE_RETRY_MS);
    if (renew || ask) {
        char ms[16];
        snprintf(ms, sizeof ms, "%d", PG_LEASE_MS);
        const char *vals[] = {l->role, l->token, ms};
        PGresult *res = NULL;
        l->last_try_ms = now;
        l->tried = true;
        rc = pg_query(c, "take a lease", lease_sql, 3, vals, &res, err);
        l->held = !rc && PQntuples(res) == 1;
        PQclear(res);
        if (l->held)
            l->end_ms = now + PG_LEASE_MS; /* counted from before the ask: never longer */
        *fresh = l->held && !was;
    }
    *ours = l->held && l->end_ms - pg_monotonic_ms() >= spare_ms;
    return rc;
}

void pg_lease_forget(struct pg_lease *l)
{
    l->held = false;
    l->tried = false;
}

void pg_lease_give_up(struct pg_lease *l, struct pg_conn *c)
{
    if (!l->held || !c->pg || PQstatus(c->pg) != CONNECTION_OK)
        return;
    const char *vals[] = {l->role, l->token};
    struct pw_errbuf err;
    (void)pg_query(c, "give a lease up",
                   "UPDATE leases SET expires_at = '-infinity' WHERE role = $1 AND holder = $2",
                   2, vals, NULL, &err);
    l->held = false;
}
