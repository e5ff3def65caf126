/*
 * postworker parked and postworker release, as people read them: the
 * parked posts a line each, and what a release did (bootstrap/parking.c).
 */
#ifndef PW_BOOTSTRAP_PARKING_H
#define PW_BOOTSTRAP_PARKING_H

#include <stdbool.h>
#include <stdio.h>

#include "ports/store.h"

/* Writes every parked post to out, a line each, then their count. */
enum pw_err pw_parked_print(struct pw_store *st, FILE *out, struct pw_errbuf *err);

/*
 * Releases post_id (dry_run: only says what it would do) and writes what
 * was done to out; *found false, and nothing written, when it is not parked.
 */
enum pw_err pw_release_print(struct pw_store *st, const char *post_id, bool dry_run, FILE *out,
                             bool *found, struct pw_errbuf *err);

#endif
