/*
 * The codec's JSON reader, shared by its two halves (internal to
 * adapters/kafka): cloudevents.c for commands, ce_out.c for events read
 * back by the client.
 */
#ifndef PW_ADAPTERS_KAFKA_CE_JSON_H
#define PW_ADAPTERS_KAFKA_CE_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "domain/err.h"

/* The data fields of a command, in the order the codec reads and writes them. */
#define KAFKA_CE_NFIELDS 4
extern const char *const kafka_ce_fields[KAFKA_CE_NFIELDS];

/*
 * Parses buf[0..len) into a JSON object (*out, the caller's), refusing
 * duplicate keys; a few numbers out of range become strings, so that the
 * field fails validation instead of the whole message. PW_E_INVALID_JSON
 * with the position for anything else, or a value that is not an object.
 */
enum pw_err kafka_ce_parse(const void *buf, size_t len, json_t **out, struct pw_errbuf *err);

#endif
