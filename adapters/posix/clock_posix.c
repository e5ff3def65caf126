#include "adapters/posix/clock_posix.h"

#include <time.h>

#include "ports/backoff.h"

static int64_t posix_now_ms(void *self)
{
    (void)self;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool posix_sleep_ms(void *self, long ms, const volatile sig_atomic_t *stop)
{
    (void)self;
    for (long slept = 0; slept < ms && !(stop && *stop); slept += PW_BACKOFF_SLICE_MS) {
        long slice = ms - slept < PW_BACKOFF_SLICE_MS ? ms - slept : PW_BACKOFF_SLICE_MS;
        struct timespec ts = {0, slice * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !(stop && *stop);
}

static const struct pw_clock_ops posix_clock_ops = {
    .name = "posix",
    .now_ms = posix_now_ms,
    .sleep_ms = posix_sleep_ms,
};

struct pw_clock pw_posix_clock(void)
{
    return (struct pw_clock){.ops = &posix_clock_ops, .self = NULL};
}
