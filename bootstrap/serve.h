/*
 * postworker serve: the read API alone, from a database (a read replica
 * will do), consuming nothing (bootstrap/serve.c).
 */
#ifndef PW_BOOTSTRAP_SERVE_H
#define PW_BOOTSTRAP_SERVE_H

#include <signal.h>

#include "bootstrap/config.h"
#include "ports/metrics.h"

/*
 * Serves cfg->database's read API at cfg->http until *stop is set; m is the
 * process's metrics (the store's gauge and the heartbeat are kept here).
 * The exit status: 0 on a clean stop, 2 for a bad address or URL, 1 else.
 */
int pw_serve(const struct pw_config *cfg, struct pw_metrics *m, volatile sig_atomic_t *stop);

#endif
