/*
 * The outbox table's columns, written once for the unit of work that writes
 * rows and the reader that reads them back (internal to adapters/pg). A row
 * is an event (event_type set) or a dead letter (dl_code set); both name
 * their topic.
 */
#ifndef PW_ADAPTERS_PG_OUTBOX_SQL_H
#define PW_ADAPTERS_PG_OUTBOX_SQL_H

#include "adapters/pg/conn.h"
#include "ports/message.h"

/*       enum suffix    column            type */
#define PG_OUTBOX_COLUMNS(X)                          \
    X(TOPIC,          "topic",          "text")        \
    X(EVENT_ID,       "event_id",       "uuid")        \
    X(EVENT_TYPE,     "event_type",     "text")        \
    X(EVENT_INDEX,    "event_index",    "int4")        \
    X(TIME,           "time",           "timestamptz") \
    X(SOURCE,         "source",         "text")        \
    X(CAUSATION_ID,   "causation_id",   "text")        \
    X(CORRELATION_ID, "correlation_id", "text")        \
    X(POST_ID,        "post_id",        "text")        \
    X(AUTHOR_NAME,    "author_name",    "text")        \
    X(TITLE,          "title",          "text")        \
    X(BODY,           "body",           "text")        \
    X(VERSION,        "version",        "int4")        \
    X(CREATED_AT,     "created_at",     "timestamptz") \
    X(UPDATED_AT,     "updated_at",     "timestamptz") \
    X(DELETED_AT,     "deleted_at",     "timestamptz") \
    X(TRACEPARENT,    "traceparent",    "text")        \
    X(TRACESTATE,     "tracestate",     "text")        \
    X(DL_CODE,        "dl_code",        "text")        \
    X(DL_MESSAGE,     "dl_message",     "text")        \
    X(DL_ATTEMPTS,    "dl_attempts",    "int4")        \
    X(DL_GROUP,       "dl_group",       "text")        \
    X(DL_TOPIC,       "dl_topic",       "text")        \
    X(DL_PARTITION,   "dl_partition",   "int4")        \
    X(DL_OFFSET,      "dl_offset",      "int8")        \
    X(DL_TIMESTAMP,   "dl_timestamp",   "int8")        \
    X(DL_KEY,         "dl_key",         "bytea")       \
    X(DL_VALUE,       "dl_value",       "bytea")       \
    X(DL_HEADERS,     "dl_headers",     "bytea")       \
    X(DL_PARKED,      "dl_parked",      "text")

enum pg_outbox_col {
#define PG_OUTBOX_ENUM(suffix, name, type) PG_OB_##suffix,
    PG_OUTBOX_COLUMNS(PG_OUTBOX_ENUM)
#undef PG_OUTBOX_ENUM
    PG_OB__COUNT
};

/* An event row's columns are TOPIC..TRACESTATE; a dead letter's TOPIC and DL_CODE..DL_HEADERS. */
#define PG_OB_EVENT_LAST PG_OB_TRACESTATE
#define PG_OB_DEAD_FIRST PG_OB_DL_CODE

/*
 * The statements, built once from the list: insert events (one array
 * parameter per event column, in list order), insert dead letters (TOPIC,
 * then DL_CODE..DL_HEADERS; bytea columns as hex text), and read rows in
 * binary (seq, then every column in list order; $1 the
 * most rows, $2 the payload bytes a round may hold, pw_out_bytes). Each is
 * static storage, so pg_query can prepare it by address.
 */
const char *pg_outbox_insert_events_sql(void);
const char *pg_outbox_insert_dead_sql(void);
const char *pg_outbox_select_sql(void);

/* Makes c[0..n), still empty, the columns' arrays: binary where that is text or a time. */
void pg_outbox_arrays(struct pg_array *c, int n);
/* Adds ev (for topic) to the arrays c[0..PG_OB_EVENT_LAST]. */
void pg_outbox_bind_event(struct pg_array *c, const char *topic, const struct pw_event *ev);
/* Adds dl (for topic) to c[PG_OB_TOPIC] and c[DL_CODE..DL_HEADERS]. PW_E_NOMEM if packing fails. */
enum pw_err pg_outbox_bind_dead(struct pg_array *c, const char *topic,
                                const struct pw_dead_letter *dl);

/* Fills *out from row r of a pg_outbox_select_sql result (column 0 is seq). */
enum pw_err pg_outbox_fill(struct pw_out *out, const PGresult *res, int r, struct pw_errbuf *err);

#endif
