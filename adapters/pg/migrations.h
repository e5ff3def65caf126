/*
 * The schema migrations, built into the binary from
 * adapters/pg/migrations/NNNN_name.sql (internal to adapters/pg).
 */
#ifndef PW_ADAPTERS_PG_MIGRATIONS_H
#define PW_ADAPTERS_PG_MIGRATIONS_H

#include <stddef.h>

struct pg_migration {
    int version;
    const char *name;
    const char *sql;
};

/* In version order. */
extern const struct pg_migration pg_migrations[];
extern const size_t pg_nmigrations;

#endif
