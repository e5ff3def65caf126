/*
 * The outbox's SQL, generated from its one column list, and the mapping of
 * a row to and from struct pw_out. Events are written and read column by
 * column, as cheap as before dead letters shared the table; dead letters
 * carry the original bytes as bytea, written as hex text (they are rare,
 * and hex keeps them out of the text-array quoting) and read, as every
 * column, in binary.
 */
#include "adapters/pg/outbox_sql.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/text.h"

static const struct pg_outbox_column {
    const char *name, *type;
} pg_outbox_cols[] = {
#define PG_OUTBOX_ROW(suffix, name, type) {name, type},
    PG_OUTBOX_COLUMNS(PG_OUTBOX_ROW)
#undef PG_OUTBOX_ROW
};

static char pg_insert_events[2048], pg_insert_dead[2048], pg_select[4096];
static pthread_once_t pg_sql_once = PTHREAD_ONCE_INIT;

static void pg_cat(char *buf, size_t cap, const char *fmt, const char *a, const char *b)
{
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, fmt, a, b);
}

/* INSERT ... SELECT ... FROM unnest(...) WITH ORDINALITY for the columns cols[0..n). */
static void pg_build_insert(char *sql, size_t cap, const int *cols, int n)
{
    const struct pg_outbox_column *c = pg_outbox_cols;
    snprintf(sql, cap, "INSERT INTO outbox (");
    for (int i = 0; i < n; i++)
        pg_cat(sql, cap, "%s%s", i ? ", " : "", c[cols[i]].name);
    pg_cat(sql, cap, "%s%s", ") SELECT ", "");
    for (int i = 0; i < n; i++) {
        bool bytes = strcmp(c[cols[i]].type, "bytea") == 0;
        pg_cat(sql, cap, bytes ? "%sdecode(e.%s, 'hex')" : "%se.%s", i ? ", " : "", c[cols[i]].name);
    }
    pg_cat(sql, cap, "%s%s", " FROM unnest(", "");
    for (int i = 0; i < n; i++) {
        char num[16];
        snprintf(num, sizeof num, "%s$%d", i ? ", " : "", i + 1);
        bool bytes = strcmp(c[cols[i]].type, "bytea") == 0;
        pg_cat(sql, cap, "%s::%s[]", num, bytes ? "text" : c[cols[i]].type);
    }
    pg_cat(sql, cap, "%s%s", ") WITH ORDINALITY AS e(", "");
    for (int i = 0; i < n; i++)
        pg_cat(sql, cap, "%s%s", c[cols[i]].name, ", ");
    /* ORDER BY ordinality: seq follows the order the rows were recorded in. */
    pg_cat(sql, cap, "%s%s", "ord) ORDER BY e.ord", "");
}

static void pg_build_sql(void)
{
    int cols[PG_OB__COUNT], n = 0;
    for (int i = 0; i <= PG_OB_EVENT_LAST; i++)
        cols[n++] = i;
    pg_build_insert(pg_insert_events, sizeof pg_insert_events, cols, n);
    n = 0;
    cols[n++] = PG_OB_TOPIC;
    for (int i = PG_OB_DEAD_FIRST; i < PG_OB__COUNT; i++)
        cols[n++] = i;
    pg_build_insert(pg_insert_dead, sizeof pg_insert_dead, cols, n);
    /* Read in binary (pg_query_binary): pg_outbox_fill decodes each column by its type. */
    snprintf(pg_select, sizeof pg_select, "SELECT seq");
    for (int i = 0; i < PG_OB__COUNT; i++)
        pg_cat(pg_select, sizeof pg_select, ", %s%s", pg_outbox_cols[i].name, "");
    /*
     * The first $1 rows, cut where the payload before a row reaches $2 bytes
     * (pw_out_bytes): the window runs over the limited rows only, and rows
     * past the cut are never sent, so a round of large dead letters costs
     * what the cap allows, not what the outbox holds.
     */
    pg_cat(pg_select, sizeof pg_select, "%s%s",
           " FROM (SELECT w.*, sum(w.pw_size) OVER (ORDER BY w.seq) AS pw_acc FROM"
           " (SELECT o.*, coalesce(octet_length(o.author_name), 0)"
           " + coalesce(octet_length(o.title), 0) + coalesce(octet_length(o.body), 0)"
           " + coalesce(octet_length(o.dl_key), 0) + coalesce(octet_length(o.dl_value), 0)",
           " + coalesce(octet_length(o.dl_headers), 0) AS pw_size"
           " FROM outbox o ORDER BY o.seq LIMIT $1) w) r"
           " WHERE r.pw_acc - r.pw_size < $2 ORDER BY r.seq");
}

const char *pg_outbox_insert_events_sql(void)
{
    pthread_once(&pg_sql_once, pg_build_sql);
    return pg_insert_events;
}

const char *pg_outbox_insert_dead_sql(void)
{
    pthread_once(&pg_sql_once, pg_build_sql);
    return pg_insert_dead;
}

const char *pg_outbox_select_sql(void)
{
    pthread_once(&pg_sql_once, pg_build_sql);
    return pg_select;
}

void pg_outbox_arrays(struct pg_array *c, int n)
{
    for (int i = 0; i < n; i++) {
        const char *type = pg_outbox_cols[i].type;
        if (strcmp(type, "text") == 0 || strcmp(type, "bytea") == 0) /* bytea: as hex text */
            pg_array_binary(&c[i], PG_OID_TEXT);
        else if (strcmp(type, "timestamptz") == 0)
            pg_array_binary(&c[i], PG_OID_TIMESTAMPTZ);
    }
}

void pg_outbox_bind_event(struct pg_array *c, const char *topic, const struct pw_event *ev)
{
    const struct pw_post *p = &ev->post;
    pg_array_add(&c[PG_OB_TOPIC], topic);
    pg_array_add(&c[PG_OB_EVENT_ID], ev->id);
    pg_array_add(&c[PG_OB_EVENT_TYPE], pw_event_type_name(ev->type));
    pg_array_add_int(&c[PG_OB_EVENT_INDEX], ev->index);
    pg_array_add_time(&c[PG_OB_TIME], ev->time);
    pg_array_add(&c[PG_OB_SOURCE], ev->source);
    pg_array_add(&c[PG_OB_CAUSATION_ID], ev->causation_id);
    pg_array_add(&c[PG_OB_CORRELATION_ID], ev->correlation_id);
    pg_array_add(&c[PG_OB_POST_ID], p->post_id);
    pg_array_add(&c[PG_OB_AUTHOR_NAME], p->author_name);
    pg_array_add(&c[PG_OB_TITLE], p->title);
    pg_array_add(&c[PG_OB_BODY], p->body);
    pg_array_add_int(&c[PG_OB_VERSION], p->version);
    pg_array_add_time(&c[PG_OB_CREATED_AT], p->created_at);
    pg_array_add_time(&c[PG_OB_UPDATED_AT], p->updated_at);
    pg_array_add_time(&c[PG_OB_DELETED_AT], p->deleted_at);
    pg_array_add(&c[PG_OB_TRACEPARENT], ev->traceparent[0] ? ev->traceparent : NULL);
    pg_array_add(&c[PG_OB_TRACESTATE], ev->tracestate[0] ? ev->tracestate : NULL);
}

enum pw_err pg_outbox_bind_dead(struct pg_array *c, const char *topic,
                                const struct pw_dead_letter *dl)
{
    const struct pw_origin *o = &dl->origin;
    size_t hlen = pw_headers_packed_size(o->headers, o->nheaders);
    unsigned char *packed = malloc(hlen + 1);
    if (!packed)
        return PW_E_NOMEM;
    pw_headers_pack(o->headers, o->nheaders, packed);
    pg_array_add(&c[PG_OB_TOPIC], topic);
    pg_array_add(&c[PG_OB_DL_CODE], pw_err_name(dl->code));
    pg_array_add(&c[PG_OB_DL_MESSAGE], dl->message);
    pg_array_add_int(&c[PG_OB_DL_ATTEMPTS], dl->attempts);
    pg_array_add(&c[PG_OB_DL_GROUP], o->group ? o->group : "");
    pg_array_add(&c[PG_OB_DL_TOPIC], o->topic ? o->topic : "");
    pg_array_add_int(&c[PG_OB_DL_PARTITION], o->partition);
    pg_array_add_int(&c[PG_OB_DL_OFFSET], o->offset);
    pg_array_add_int(&c[PG_OB_DL_TIMESTAMP], o->timestamp_ms);
    pg_array_add_hex(&c[PG_OB_DL_KEY], o->key, o->key_len);
    pg_array_add_hex(&c[PG_OB_DL_VALUE], o->value, o->value_len);
    pg_array_add_hex(&c[PG_OB_DL_HEADERS], packed, hlen);
    pg_array_add(&c[PG_OB_DL_PARKED], dl->parked[0] ? dl->parked : NULL);
    free(packed);
    return PW_OK;
}

/* A text column's bytes (NUL-ended by libpq); "" for NULL. */
static const char *pg_col(const PGresult *res, int r, enum pg_outbox_col col)
{
    return PQgetvalue(res, r, col + 1);
}

static int64_t pg_col_int(const PGresult *res, int r, enum pg_outbox_col col)
{
    return PQgetisnull(res, r, col + 1) ? 0 : pg_bin_int(res, r, col + 1);
}

/* Row r's seq, for messages. */
static long long pg_row(const PGresult *res, int r)
{
    return (long long)pg_bin_int(res, r, 0);
}

/* The 16 bytes at u as a UUID's 36 characters and a NUL. */
static void pg_uuid_text(const unsigned char *u, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *out++ = '-';
        *out++ = hex[u[i] >> 4];
        *out++ = hex[u[i] & 15];
    }
    *out = '\0';
}

static enum pw_err pg_fill_event(struct pw_event *ev, const PGresult *res, int r,
                                 struct pw_errbuf *err)
{
    const unsigned char *u = (const unsigned char *)pg_col(res, r, PG_OB_EVENT_ID);
    if (PQgetlength(res, r, PG_OB_EVENT_ID + 1) != 16)
        return pw_err_set(err, PW_E_FATAL, "outbox row %lld has no event id", pg_row(res, r));
    pg_uuid_text(u, ev->id);
    if (!pw_event_type_from_name(pg_col(res, r, PG_OB_EVENT_TYPE), &ev->type))
        return pw_err_set(err, PW_E_FATAL, "outbox row %lld has an unknown event type '%s'",
                          pg_row(res, r), pg_col(res, r, PG_OB_EVENT_TYPE));
    ev->index = (unsigned)pg_col_int(res, r, PG_OB_EVENT_INDEX);
    ev->time = pg_bin_time(res, r, PG_OB_TIME + 1);
    pw_text_copy(ev->source, sizeof ev->source, pg_col(res, r, PG_OB_SOURCE));
    pw_text_copy(ev->causation_id, sizeof ev->causation_id, pg_col(res, r, PG_OB_CAUSATION_ID));
    pw_text_copy(ev->correlation_id, sizeof ev->correlation_id,
                 pg_col(res, r, PG_OB_CORRELATION_ID));
    pw_text_copy(ev->traceparent, sizeof ev->traceparent, pg_col(res, r, PG_OB_TRACEPARENT));
    pw_text_copy(ev->tracestate, sizeof ev->tracestate, pg_col(res, r, PG_OB_TRACESTATE));
    struct pw_post *p = &ev->post;
    pw_text_copy(p->post_id, sizeof p->post_id, pg_col(res, r, PG_OB_POST_ID));
    p->author_name = strdup(pg_col(res, r, PG_OB_AUTHOR_NAME));
    p->title = strdup(pg_col(res, r, PG_OB_TITLE));
    p->body = strdup(pg_col(res, r, PG_OB_BODY));
    p->version = pg_col_int(res, r, PG_OB_VERSION);
    p->created_at = pg_bin_time(res, r, PG_OB_CREATED_AT + 1);
    p->updated_at = pg_bin_time(res, r, PG_OB_UPDATED_AT + 1);
    p->deleted_at = pg_bin_time(res, r, PG_OB_DELETED_AT + 1);
    if (!p->author_name || !p->title || !p->body)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading the outbox");
    return PW_OK;
}

/* A bytea column's bytes, borrowed from res; NULL for NULL. */
static const unsigned char *pg_bytes(const PGresult *res, int r, enum pg_outbox_col col,
                                     size_t *len)
{
    *len = 0;
    if (PQgetisnull(res, r, col + 1))
        return NULL;
    *len = (size_t)PQgetlength(res, r, col + 1);
    return (const unsigned char *)pg_col(res, r, col);
}

static enum pw_err pg_fill_dead(struct pw_dead_letter *dl, const PGresult *res, int r,
                                struct pw_errbuf *err)
{
    size_t klen, vlen, hlen, nh = 0;
    const unsigned char *key = pg_bytes(res, r, PG_OB_DL_KEY, &klen);
    const unsigned char *value = pg_bytes(res, r, PG_OB_DL_VALUE, &vlen);
    const unsigned char *packed = pg_bytes(res, r, PG_OB_DL_HEADERS, &hlen);
    struct pw_header *hs = NULL;
    enum pw_err rc = pw_headers_unpack(packed, hlen, NULL, 0, &nh);
    if (!rc && nh && !(hs = calloc(nh, sizeof *hs)))
        rc = PW_E_NOMEM;
    if (!rc)
        rc = pw_headers_unpack(packed, hlen, hs, nh, &nh);
    if (!rc) {
        struct pw_dead_letter borrowed = {
            .origin = {.group = pg_col(res, r, PG_OB_DL_GROUP),
                       .topic = pg_col(res, r, PG_OB_DL_TOPIC),
                       .partition = (int32_t)pg_col_int(res, r, PG_OB_DL_PARTITION),
                       .offset = pg_col_int(res, r, PG_OB_DL_OFFSET),
                       .timestamp_ms = pg_col_int(res, r, PG_OB_DL_TIMESTAMP),
                       .key = key, .key_len = klen, .value = value, .value_len = vlen,
                       .headers = hs, .nheaders = nh},
            .code = pg_err_of(pg_col(res, r, PG_OB_DL_CODE)),
            .attempts = (unsigned)pg_col_int(res, r, PG_OB_DL_ATTEMPTS),
        };
        pw_text_copy(borrowed.message, sizeof borrowed.message, pg_col(res, r, PG_OB_DL_MESSAGE));
        pw_text_copy(borrowed.parked, sizeof borrowed.parked, pg_col(res, r, PG_OB_DL_PARKED));
        rc = pw_dead_letter_copy(dl, &borrowed);
    }
    free(hs);
    if (rc == PW_E_NOMEM)
        return pw_err_set(err, rc, "out of memory reading a dead letter from the outbox");
    if (rc)
        return pw_err_set(err, rc, "outbox row %lld holds headers that do not unpack",
                          pg_row(res, r));
    return PW_OK;
}

enum pw_err pg_outbox_fill(struct pw_out *out, const PGresult *res, int r, struct pw_errbuf *err)
{
    memset(out, 0, sizeof *out);
    pw_text_copy(out->topic, sizeof out->topic, pg_col(res, r, PG_OB_TOPIC));
    enum pw_err rc;
    if (!PQgetisnull(res, r, PG_OB_EVENT_TYPE + 1)) {
        out->kind = PW_OUT_EVENT;
        rc = pg_fill_event(&out->ev, res, r, err);
    } else if (!PQgetisnull(res, r, PG_OB_DL_CODE + 1)) {
        out->kind = PW_OUT_DEAD_LETTER;
        rc = pg_fill_dead(&out->dl, res, r, err);
    } else {
        rc = pw_err_set(err, PW_E_FATAL, "outbox row %lld is neither an event nor a dead letter",
                        pg_row(res, r));
    }
    if (rc)
        pw_out_release(out);
    return rc;
}
