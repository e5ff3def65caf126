/*
 * Telling systemd how the worker is (Type=notify): READY=1 once it joined
 * its group and Kafka and the store answer, WATCHDOG=1 while the loop
 * turns (its heartbeat fresher than half of WatchdogSec), STOPPING=1 once a
 * stop is asked. Without NOTIFY_SOCKET (not under systemd) it says nothing.
 */
#ifndef PW_ADAPTERS_SYSTEMD_NOTIFY_SYSTEMD_H
#define PW_ADAPTERS_SYSTEMD_NOTIFY_SYSTEMD_H

#include <signal.h>

#include "domain/err.h"
#include "ports/metrics.h"

struct pw_notify;

/*
 * Starts a thread that watches m (and *stop, set by a signal handler) and
 * tells systemd; both borrowed, outliving it. *out NULL and PW_OK when
 * NOTIFY_SOCKET is not set; PW_E_NOMEM when the thread cannot start.
 */
enum pw_err pw_systemd_notify_start(struct pw_notify **out, const struct pw_metrics *m,
                                    volatile sig_atomic_t *stop, struct pw_errbuf *err);

/* Stops the thread (saying STOPPING=1 if it has not yet) and frees n; NULL is fine. */
void pw_systemd_notify_stop(struct pw_notify *n);

#endif
