/*
 * PostgreSQL for tests: each test gets a schema of its own in the database
 * at DATABASE_URL (make test starts a throwaway server), so tests running in
 * parallel never see each other's rows.
 */
#ifndef PW_TESTS_PG_WORLD_H
#define PW_TESTS_PG_WORLD_H

#include <stdbool.h>

#include "adapters/pg/pg.h"

struct pg_schema {
    char name[64];
    struct pw_pg_store *store;
};

/* A fresh, migrated schema and a store on it; skips the test without DATABASE_URL. */
void pg_schema_open(struct pg_schema *s);
/* Drops the schema and frees the store (close the handles on it first). */
void pg_schema_close(struct pg_schema *s);
/* Runs sql in the schema; returns the first column of the first row as a number, or -1. */
long long pg_schema_scalar(struct pg_schema *s, const char *sql);
/*
 * How many of the posts "<prefix>-0" .. "<prefix>-<n-1>" have seen[k], a
 * version (say, the newest published), above the version stored in s.
 */
long long pg_schema_versions_ahead(struct pg_schema *s, const char *prefix, const long *seen,
                                   int n);

/* Runs a statement for the whole server (CHECKPOINT, ALTER SYSTEM), or fails the test. */
void pg_admin(const char *sql);
/*
 * slow: what is committed so far made safe (CHECKPOINT), then the WAL
 * writer slowed to once in 10 s, so that commits that do not wait for
 * their flush stay unflushed until someone flushes them, and a crash
 * takes them. !slow: the writer as it was.
 */
void pg_slow_wal_writer(bool slow);
/* "$PW_PG_CTL how" (tools/with-postgres): "stop -m immediate", "start"; or fails the test. */
void pg_server(const char *how);

#endif
