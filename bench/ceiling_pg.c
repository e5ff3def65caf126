/*
 * build/bench-db-ceiling [-n COMMANDS] [--batch-size N]: the database's
 * ceiling for this work (adapters/pg/ceiling_pg.c), with DATABASE_URL
 * (make bench starts a server). Prints one line: commands, seconds,
 * commands per second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/pg/pg.h"

int main(int argc, char **argv)
{
    size_t n = 100000, batch = 500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch-size") == 0 && i + 1 < argc)
            batch = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench-db-ceiling [-n COMMANDS] [--batch-size N]\n");
            return 2;
        }
    }
    const char *url = getenv("DATABASE_URL");
    if (!url || !*url || !n || !batch) {
        fprintf(stderr, "bench-db-ceiling: needs DATABASE_URL (make bench starts a server)\n");
        return 2;
    }
    double secs = 0;
    struct pw_errbuf err;
    if (pw_pg_ceiling(url, n, batch, &secs, &err)) {
        fprintf(stderr, "bench-db-ceiling: %s\n", err.msg);
        return 1;
    }
    printf("%zu %.3f %.0f\n", n, secs, secs > 0 ? (double)n / secs : 0.0);
    return 0;
}
