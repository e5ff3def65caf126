/*
 * Port: time, so that the core's waits and deadlines can run on a clock a
 * test controls (the simulator's virtual time). The clock is monotonic:
 * it never steps back, whatever NTP does to the wall clock; it measures
 * durations and deadlines, never what is shown to people.
 */
#ifndef PW_PORTS_CLOCK_H
#define PW_PORTS_CLOCK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

struct pw_clock_ops {
    const char *name;
    /* Milliseconds since some fixed point; never less than an earlier answer. */
    int64_t (*now_ms)(void *self);
    /*
     * Waits ms, ending early (within 50 ms) once *stop is set; false if
     * *stop was set, before or meanwhile. stop may be NULL.
     */
    bool (*sleep_ms)(void *self, long ms, const volatile sig_atomic_t *stop);
};

struct pw_clock {
    const struct pw_clock_ops *ops;
    void *self;
};

static inline int64_t pw_clock_now_ms(struct pw_clock *c)
{
    return c->ops->now_ms(c->self);
}

static inline bool pw_clock_sleep_ms(struct pw_clock *c, long ms, const volatile sig_atomic_t *stop)
{
    return c->ops->sleep_ms(c->self, ms, stop);
}

#endif
