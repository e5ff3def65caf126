#include "ports/metrics.h"

#include <string.h>
#include <time.h>

int64_t pw_metrics_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pw_metrics_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pw_metrics_init(struct pw_metrics *m, const char *version, const char *lag_topic)
{
    memset(m, 0, sizeof *m);
    m->version = version;
    m->lag_topic = lag_topic;
    m->start_time_ms = pw_metrics_now_ms();
    atomic_store(&m->heartbeat_ms, pw_metrics_mono_ms());
    atomic_store(&m->progress_ms, pw_metrics_mono_ms());
    for (int d = 0; d < PW_M__DEPENDENCIES; d++)
        atomic_store(&m->dependency_up[d], -1);
    for (int i = 0; i < PW_METRICS_MAX_PARTITIONS; i++)
        atomic_store_explicit(&m->lag[i], -1, memory_order_relaxed);
    atomic_store(&m->outbox_pending, -1);
    atomic_store(&m->assigned, -1);
    for (int c = 0; c < PW_M__CLIENTS; c++)
        atomic_flag_clear(&m->clients[c].lock);
    atomic_store(&m->parked_posts, -1);
}

void pw_histogram_observe(struct pw_histogram *h, double seconds)
{
    static const double bounds[PW_HISTOGRAM_NBOUNDS] = PW_HISTOGRAM_BOUNDS;
    int b = 0;
    while (b < PW_HISTOGRAM_NBOUNDS && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->buckets[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    if (seconds > 0)
        atomic_fetch_add_explicit(&h->sum_us, (uint64_t)(seconds * 1e6), memory_order_relaxed);
}
