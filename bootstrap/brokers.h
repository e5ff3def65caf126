/*
 * The embedded broker's address, written down where the worker on it runs
 * (PW_BROKERS_FILE, in its current directory) so that postctl, replay and
 * redrive beside it find it.
 */
#ifndef PW_BOOTSTRAP_BROKERS_H
#define PW_BOOTSTRAP_BROKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "bootstrap/config.h"
#include "domain/err.h"

/* Writes brokers to PW_BROKERS_FILE in the current directory; 0, or -1 with errno. */
int pw_brokers_write(const char *brokers);

/*
 * The address in PW_BROKERS_FILE (into buf), or NULL: in the current
 * directory, and with upward, in the nearest of its parents that has one
 * (so that postctl works from any folder of the checkout). path (may be
 * NULL) gets the file's path.
 */
const char *pw_brokers_read(bool upward, char *buf, size_t size, char *path, size_t psize);

/*
 * KAFKA_BROKERS or --brokers, else the embedded broker a running worker
 * wrote down (here, or with upward in a parent folder) if it answers;
 * NULL if none.
 */
const char *pw_running_brokers(const struct pw_config *cfg, bool upward, char *buf,
                               size_t size);

/*
 * The embedded default when another process already runs it: run refuses
 * (here only), replay and redrive read the running broker (*brokers).
 * PW_E_USAGE with err otherwise.
 */
enum pw_err pw_embedded_elsewhere(const struct pw_config *cfg, char *buf, size_t size,
                                  const char **brokers, struct pw_errbuf *err);

/*
 * Writes the read API's URL for the listener at http (HOST:PORT, as --http
 * takes it; every interface becomes loopback), on port (the one it got,
 * for :0), to PW_API_FILE; 0, or -1 with errno.
 */
int pw_api_write(const char *http, int port);

/* The URL in the PW_API_FILE beside the PW_BROKERS_FILE found upward (into buf), or NULL. */
const char *pw_api_find(char *buf, size_t size);

#endif
