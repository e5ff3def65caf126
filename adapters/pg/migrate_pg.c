/*
 * The PostgreSQL migrations. They run under an advisory lock, so that two
 * workers starting together apply each one once; each migration and its
 * record commit together, so a crash midway leaves either both or neither.
 */
#include "adapters/pg/conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/migrations.h"

/*
 * postworker's migration lock: an arbitrary constant and the schema, so that
 * deployments (and tests) in different schemas do not wait for each other.
 */
#define PG_MIGRATION_LOCK "730530, hashtext(current_schema())"

static enum pw_err pg_migrate_one(struct pg_conn *c, const struct pg_migration *m,
                                  struct pw_errbuf *err)
{
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *vals[] = {version, m->name};
    enum pw_err rc = pg_query(c, "begin migration", "BEGIN", 0, NULL, NULL, err);
    if (!rc)
        rc = pg_query(c, m->name, m->sql, -1, NULL, NULL, err);
    if (!rc)
        rc = pg_query(c, "record migration",
                      "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, vals,
                      NULL, err);
    if (!rc)
        rc = pg_query(c, "commit migration", "COMMIT", 0, NULL, NULL, err);
    if (rc && c->pg)
        pg_query(c, "rollback migration", "ROLLBACK", 0, NULL, NULL, NULL);
    return rc;
}

enum pw_err pw_pg_migrate(struct pw_pg_store *store, int *applied, struct pw_errbuf *err)
{
    struct pg_conn c = {.store = store};
    PGresult *res = NULL;
    int done = 0;
    enum pw_err rc = pg_connect(&c, err);
    if (rc)
        goto out;
    rc = pg_query(&c, "take the migration lock", "SELECT pg_advisory_lock(" PG_MIGRATION_LOCK ")",
                  0, NULL, NULL, err);
    if (!rc)
        rc = pg_query(&c, "create schema_migrations",
                      "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version integer PRIMARY KEY, name text NOT NULL,"
                      " applied_at timestamptz NOT NULL DEFAULT now())",
                      0, NULL, NULL, err);
    if (!rc)
        rc = pg_query(&c, "read schema_migrations",
                      "SELECT coalesce(max(version), 0) FROM schema_migrations", 0, NULL, &res, err);
    if (rc)
        goto out;
    int64_t current = pg_int(res, 0, 0);
    for (size_t i = 0; i < pg_nmigrations && !rc; i++) {
        if (pg_migrations[i].version <= current)
            continue;
        rc = pg_migrate_one(&c, &pg_migrations[i], err);
        done += !rc;
    }
out:
    PQclear(res);
    pg_disconnect(&c); /* ends the session, and with it the advisory lock */
    if (applied)
        *applied = done;
    return rc;
}
