/*
 * The slowest single put into the in-memory store's hash map, over 700,000
 * keys like post ids: a whole rehash shows as one put of 100 ms and more.
 *
 *   cc -O2 -D_POSIX_C_SOURCE=200809L -I. -o build/map-stall bench/map_stall.c adapters/inmem/map.c -lpthread
 *   build/map-stall
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>

#include "adapters/inmem/map.h"

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

int main(void)
{
    struct inmem_map m = {0};
    char key[32];
    double worst = 0;
    int at = 0;
    for (int i = 0; i < 700000; i++) {
        int n = snprintf(key, sizeof key, "post-%d", i), created;
        double t = now_ms();
        if (!inmem_map_put(&m, key, (size_t)n, &created))
            return 1;
        t = now_ms() - t;
        if (t > worst) {
            worst = t;
            at = i;
        }
    }
    printf("worst put %.1f ms, at entry %d\n", worst, at);
    inmem_map_clear(&m, NULL);
    return 0;
}
