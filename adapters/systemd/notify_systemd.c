/* systemd's notification protocol through libsystemd's sd_notify (notify_systemd.h). */
#include "adapters/systemd/notify_systemd.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <systemd/sd-daemon.h>
#include <time.h>

/* How often the thread looks: well inside the shortest watchdog a unit would set. */
#define NOTIFY_TICK_MS 250

struct pw_notify {
    const struct pw_metrics *m;
    volatile sig_atomic_t *stop;
    uint64_t watchdog_us; /* WatchdogSec, 0 without one */
    pthread_t thread;
    atomic_bool done;
    bool ready, stopping;
};

static bool notify_ready(const struct pw_metrics *m)
{
    return atomic_load(&m->joined) && atomic_load(&m->dependency_up[PW_M_KAFKA]) == 1 &&
           atomic_load(&m->dependency_up[PW_M_STORE]) == 1;
}

static void notify_stopping(struct pw_notify *n)
{
    if (!n->stopping)
        sd_notify(0, "STOPPING=1\nSTATUS=stopping: finishing the batch in hand");
    n->stopping = true;
}

static void *notify_run(void *arg)
{
    struct pw_notify *n = arg;
    while (!atomic_load(&n->done)) {
        if (n->stop && *n->stop) {
            notify_stopping(n);
        } else if (!n->ready && notify_ready(n->m)) {
            sd_notify(0, "READY=1\nSTATUS=consuming");
            n->ready = true;
        }
        int64_t ago = pw_metrics_mono_ms() - atomic_load(&n->m->heartbeat_ms);
        /* From the loop: a loop stuck for half the watchdog lets systemd restart us. */
        if (n->watchdog_us && (uint64_t)ago * 1000 < n->watchdog_us / 2)
            sd_notify(0, "WATCHDOG=1");
        nanosleep(&(struct timespec){0, NOTIFY_TICK_MS * 1000000L}, NULL);
    }
    return NULL;
}

enum pw_err pw_systemd_notify_start(struct pw_notify **out, const struct pw_metrics *m,
                                    volatile sig_atomic_t *stop, struct pw_errbuf *err)
{
    *out = NULL;
    const char *socket = getenv("NOTIFY_SOCKET");
    if (!socket || !*socket)
        return PW_OK;
    struct pw_notify *n = calloc(1, sizeof *n);
    if (!n)
        return pw_err_set(err, PW_E_NOMEM, "out of memory for the systemd notifier");
    n->m = m;
    n->stop = stop;
    if (sd_watchdog_enabled(0, &n->watchdog_us) <= 0)
        n->watchdog_us = 0;
    if (pthread_create(&n->thread, NULL, notify_run, n) != 0) {
        free(n);
        return pw_err_set(err, PW_E_NOMEM, "cannot start the systemd notifier's thread");
    }
    *out = n;
    return PW_OK;
}

void pw_systemd_notify_stop(struct pw_notify *n)
{
    if (!n)
        return;
    atomic_store(&n->done, true);
    pthread_join(n->thread, NULL);
    notify_stopping(n);
    free(n);
}
