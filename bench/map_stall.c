/*
 * The slowest puts into the in-memory store's hash map, over 700,000 keys
 * like post ids: the worst single put and the worst 500 puts in a row (a
 * batch), for a map that rehashes whole at each growth and for one that
 * grows as the store's do (incrementally, into a table made ahead).
 *
 *   cc -O2 -D_POSIX_C_SOURCE=200809L -I. -o build/map-stall bench/map_stall.c adapters/inmem/map.c -lpthread
 *   build/map-stall; build/map-stall whole
 *
 * One map a process: the frees of a first run's 700,000 keys would be paid
 * by the second's first malloc (glibc consolidating its fast bins).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "adapters/inmem/map.h"

#define N 700000
#define BATCH 500

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int run(const char *name, size_t incremental_from)
{
    static double took[N];
    struct inmem_map m = {.incremental_from = incremental_from};
    char key[32];
    double worst = 0, window = 0, worst_window = 0;
    int at = 0, window_at = 0;
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "post-%d", i), created;
        double t = now_ms();
        if (!inmem_map_put(&m, key, (size_t)n, &created))
            return 1;
        took[i] = now_ms() - t;
        if (took[i] > worst) {
            worst = took[i];
            at = i;
        }
        window += took[i] - (i >= BATCH ? took[i - BATCH] : 0);
        if (window > worst_window) {
            worst_window = window;
            window_at = i;
        }
    }
    printf("%s: worst put %.1f ms at entry %d; worst %d puts in a row %.1f ms, ending at %d\n",
           name, worst, at, BATCH, worst_window, window_at);
    inmem_map_clear(&m, NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "whole") == 0)
        return run("whole rehash", 0);
    return run("as the store's", INMEM_MAP_INCREMENTAL);
}
