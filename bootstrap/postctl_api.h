/*
 * postctl's reads through the worker's read API (bootstrap/postctl_api.c).
 * Each returns postctl's exit status: 0, 1 for a failure (said on standard
 * error), 2 for usage.
 */
#ifndef PW_BOOTSTRAP_POSTCTL_API_H
#define PW_BOOTSTRAP_POSTCTL_API_H

#include <stdbool.h>
#include <stddef.h>

#include "bootstrap/config.h"

/*
 * The API's base URL: --api or POSTWORKER_API, else the one the worker on
 * the embedded default wrote down beside its broker file, else
 * http://127.0.0.1:9464 (make run's). *known: one of the first two.
 */
const char *pc_api_base(const struct pw_config *cfg, bool *known, char *buf, size_t size);

/* postctl get: the post as JSON (a deleted one too); 1 if there is none. */
int pc_get(const char *base, const char *post_id);

struct pc_list_opts {
    const char *author, *deleted, *limit, *after; /* NULL: the API's default */
    bool all;                                     /* follow next to the end */
};

/* postctl list: a post a line, and the next page's cursor on standard error. */
int pc_list(const char *base, const struct pc_list_opts *o);

/*
 * --wait: asks what became of (source, id), waiting up to seconds, and
 * prints it a line; 0 only when it was applied.
 */
int pc_wait(const char *base, const char *source, const char *id, const char *post_id,
            int seconds);

#endif
