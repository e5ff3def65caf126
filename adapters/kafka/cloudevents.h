/*
 * The CloudEvents 1.0 codec of the contract: commands in (JSON structured
 * mode, or binary mode with ce_* headers), events out (structured mode).
 * It knows JSON (jansson) but not Kafka: a message is handed to it as bytes
 * and a header list, so it is tested without a broker.
 */
#ifndef PW_ADAPTERS_KAFKA_CLOUDEVENTS_H
#define PW_ADAPTERS_KAFKA_CLOUDEVENTS_H

#include <stddef.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"
#include "ports/message.h"

/* The largest message value decoded; larger ones are too_large. */
#define PW_CE_MAX_MESSAGE (1024 * 1024)

/* What the codec needs of a consumed message; all borrowed. */
struct pw_ce_message {
    const void *value;
    size_t len;
    const struct pw_header *headers; /* all of them; the codec reads the ce_ ones */
    size_t nheaders;
    pw_time timestamp; /* the message's timestamp, PW_TIME_NONE if it has none; any value */
};

/*
 * Decodes a command message into *cmd, which the caller then owns
 * (pw_cmd_release). On failure *cmd is zeroed and the code is of kind
 * malformed (invalid_json, missing_attribute, invalid_attribute, too_large)
 * or unsupported (unknown_type), with a one-line message. The data fields'
 * own rules are not checked here but in the domain (validation_failed),
 * except their JSON types.
 */
enum pw_err pw_ce_decode_cmd(const struct pw_ce_message *msg, struct pw_cmd *cmd,
                             struct pw_errbuf *err);

/*
 * pw_ce_decode_cmd, which is this with fast set: a message of the common
 * shape is read by the fast reader (json_in.h), any other by jansson. With
 * fast unset, jansson reads every message: for the tests that compare them.
 */
enum pw_err pw_ce_decode_cmd_with(const struct pw_ce_message *msg, bool fast, struct pw_cmd *cmd,
                                  struct pw_errbuf *err);

/*
 * Encodes ev as the contract's structured-mode JSON. On PW_OK *out is a
 * NUL-terminated string of *len bytes that the caller frees.
 */
enum pw_err pw_ce_encode_event(const struct pw_event *ev, char **out, size_t *len,
                               struct pw_errbuf *err);

/* Encodes cmd as a structured-mode command (for postctl); ownership as above. */
enum pw_err pw_ce_encode_cmd(const struct pw_cmd *cmd, char **out, size_t *len,
                             struct pw_errbuf *err);

/*
 * Decodes an event of the contract back into *ev (the caller releases it);
 * for consumers of the events topic such as postctl and the tests.
 */
enum pw_err pw_ce_decode_event(const char *json, size_t len, struct pw_event *ev,
                               struct pw_errbuf *err);

/*
 * Reads data.post_id of a structured-mode command line, for a producer that
 * keys by it (postctl send). PW_E_INVALID_JSON or PW_E_MISSING_ATTRIBUTE
 * with a message when there is none.
 */
enum pw_err pw_ce_peek_post_id(const char *json, size_t len, char out[PW_POST_ID_MAX + 1],
                               struct pw_errbuf *err);

#endif
