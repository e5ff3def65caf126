/*
 * The retry policy of the contract, shared by everything that waits for a
 * dependency (the worker's batches and publishes, the migrations at
 * start): capped exponential backoff, slept in short slices so that a stop
 * request is noticed within 50 ms.
 */
#ifndef PW_PORTS_BACKOFF_H
#define PW_PORTS_BACKOFF_H

#include <signal.h>
#include <stdbool.h>
#include <time.h>

#define PW_BACKOFF_MIN_MS 100
#define PW_BACKOFF_MAX_MS 5000
#define PW_BACKOFF_SLICE_MS 50

/* The wait before retry number attempt (0 first): 100 ms doubling to 5 s. */
static inline long pw_backoff_ms(unsigned attempt)
{
    long ms = PW_BACKOFF_MIN_MS;
    for (unsigned i = 0; i < attempt && ms < PW_BACKOFF_MAX_MS; i++)
        ms *= 2;
    return ms > PW_BACKOFF_MAX_MS ? PW_BACKOFF_MAX_MS : ms;
}

/* Sleeps attempt's backoff; false if *stop was set (before or meanwhile). */
static inline bool pw_backoff_sleep(unsigned attempt, const volatile sig_atomic_t *stop)
{
    long ms = pw_backoff_ms(attempt);
    for (long slept = 0; slept < ms && !*stop; slept += PW_BACKOFF_SLICE_MS) {
        struct timespec ts = {0, PW_BACKOFF_SLICE_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    return !*stop;
}

#endif
