/*
 * Connections and queries shared by the PostgreSQL adapters (internal to
 * adapters/pg): connect on demand, run parameterised statements, turn
 * SQLSTATEs into our codes, and build array parameters for unnest().
 */
#ifndef PW_ADAPTERS_PG_CONN_H
#define PW_ADAPTERS_PG_CONN_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "adapters/pg/pg.h"
#include "domain/time.h"

struct pw_pg_store {
    char *url;
    char *options;     /* "-c search_path=..." or NULL */
    char *password;    /* from the URL, to scrub from libpq's messages; NULL if none */
    atomic_int dirty;  /* this process committed events the relay has not looked for */
    bool relaxed;      /* --durability relaxed: commits not waited for, events gated on the flush */
    _Atomic uint64_t connects; /* connections made so far: each one's birth number */
    /* Relaxed: this process's commits not yet known on disk (pg_relaxed_*). */
    pthread_mutex_t lock;
    uint64_t commit_lsn;  /* the WAL's end after the last of them */
    uint64_t pending_gen; /* connects when the first of them was sent; 0: none pending */
};

#define PG_MAX_PREPARED 32

struct pg_conn {
    struct pw_pg_store *store;
    PGconn *pg; /* NULL until connected, and again after the connection broke */
    /*
     * Its birth number (store->connects when it connected), and how far
     * it saw the WAL flushed: both start again on a new connection, for
     * a server that restarted may have lost WAL it had before (relaxed).
     */
    uint64_t born, flushed_lsn;
    char sqlstate[6]; /* the last statement's SQLSTATE if it failed with one, else "" */
    /* Statements prepared on this connection, by the address of their SQL text. */
    const char *prepared[PG_MAX_PREPARED];
    int nprepared;
    int piped; /* statements sent in a pipeline (pipe_pg.c), results not yet read */
    int tagged[2]; /* the results of its last two statements (not prepares) among them */
};

/* Connects if not connected. Transient if the server cannot be reached. */
enum pw_err pg_connect(struct pg_conn *c, struct pw_errbuf *err);
void pg_disconnect(struct pg_conn *c);

/*
 * Relaxed durability's record of this process's own commits. A crash of
 * the server (a restart, a crash of one backend) ends every connection and
 * may lose commits it had acknowledged: afterwards the WAL reuses their
 * positions, so a position alone cannot prove a commit is on disk. A flush
 * seen on a connection born before a commit was sent (and still alive)
 * can: no crash came between. (The flush is the primary's own: a standby
 * promoted may lack it. Relaxed is for a server without failover.)
 * pg_relaxed_sent snapshots the birth count before a COMMIT;
 * pg_relaxed_committed records its WAL end; pg_relaxed_pending says what
 * is still to confirm (false: nothing); pg_relaxed_confirmed clears it if
 * nothing was committed since lsn was read; pg_relaxed_forget drops it all
 * (the commits are given up for lost).
 */
uint64_t pg_relaxed_sent(struct pw_pg_store *st);
void pg_relaxed_committed(struct pw_pg_store *st, uint64_t gen, uint64_t end);
bool pg_relaxed_pending(struct pw_pg_store *st, uint64_t *lsn, uint64_t *gen);
void pg_relaxed_confirmed(struct pw_pg_store *st, uint64_t lsn);
void pg_relaxed_forget(struct pw_pg_store *st);

/*
 * Whether c can vouch for this process's pending commits: *mine when some
 * are pending, *lsn where they end. Only a connection born before they
 * were sent can (above): if c is younger, the server may have restarted in
 * between and lost them, and nobody can tell which. Then they are given
 * up: lost_commits, and the worker reads its partitions again from the
 * offsets stored with the data, applying again whatever the server lost.
 * The relay asks before it confirms them; the unit of work before it
 * begins a transaction, so that none is built on a lost one.
 */
enum pw_err pg_relaxed_vouch(struct pg_conn *c, bool *mine, uint64_t *lsn, struct pw_errbuf *err);

/* The WAL's insert position, as text: every commit before it lies below it. */
#define PG_WAL_END_SQL "SELECT pg_current_wal_insert_lsn()::text"

/* A pg_lsn's text ("16/B374D848") as a number; 0 if it is not one. */
uint64_t pg_lsn(const char *text);

/*
 * Runs sql with n text parameters (n < 0: sql is a script of several
 * statements and takes none). sql must be a string literal: it is prepared
 * once per connection, the first time, and known after by its address. On
 * PW_OK *res (if res is not NULL) is the result, for the caller to PQclear.
 * On failure the code says what kind: interrupted for a statement the
 * server cut off (57014); transient for connection loss and the rest of
 * classes 08, 40, 53, 57; apply_failed for the data's (22, 23, 54); fatal
 * otherwise. what names the statement in the message.
 */
enum pw_err pg_query(struct pg_conn *c, const char *what, const char *sql, int n,
                     const char *const *vals, PGresult **res, struct pw_errbuf *err);

/*
 * pg_query, with the result's columns in binary (read them with
 * pg_bin_int and pg_bin_time; text is its bytes, NUL-ended by libpq): a
 * timestamptz then travels as the server keeps it, where its text or
 * extract(epoch ...)'s arithmetic on a numeric cost a read side's page of
 * 50 rows a seventh of the server's time (docs/benchmark.md).
 */
enum pw_err pg_query_binary(struct pg_conn *c, const char *what, const char *sql, int n,
                            const char *const *vals, PGresult **res, struct pw_errbuf *err);

/* Parameters as libpq takes them: lens and fmts NULL when every value is NUL-ended text. */
struct pg_params {
    const char *const *vals;
    const int *lens;
    const int *fmts;
};

/*
 * pg_query, with parameters in binary where fmts says, and the result's
 * columns in binary if binary says (pg_query_binary). planned: sql is
 * planned for these values each time (an unnamed statement), for a lookup
 * by key in a table that grows under the worker: the generic plan a
 * prepared statement settles on after five runs, made while the table was
 * small (100 analyzed rows), scans all of it, batch after batch, until the
 * next ANALYZE (tests/test_pg_store.c,
 * the_unit_of_work_never_scans_posts_as_the_table_grows).
 */
enum pw_err pg_query_params(struct pg_conn *c, const char *what, const char *sql, int n,
                            const struct pg_params *ps, bool planned, bool binary,
                            PGresult **res, struct pw_errbuf *err);

/*
 * A pipeline (pipe_pg.c): pg_pipe_send sends sql as pg_query_params would, and
 * returns at once; pg_pipe_sync ends the pipeline's message and sends it;
 * pg_pipe_settle reads every result, and fails (transient, its message in
 * err) if any statement failed, or if the last one's command tag is not
 * last_tag (when not NULL: "COMMIT", which a failed transaction answers
 * with "ROLLBACK"). With tail, the last statement is a query of one row
 * that follows the tagged one: *tail is its result (the caller's to
 * PQclear; NULL after a failure). After any failure the connection is
 * closed, which rolls back whatever transaction it had open. No other
 * query on the connection while pg_pipe_open.
 */
enum pw_err pg_pipe_send(struct pg_conn *c, const char *what, const char *sql, int n,
                         const struct pg_params *ps, struct pw_errbuf *err);
enum pw_err pg_pipe_sync(struct pg_conn *c, struct pw_errbuf *err);
enum pw_err pg_pipe_settle(struct pg_conn *c, const char *last_tag, PGresult **tail,
                           struct pw_errbuf *err);
bool pg_pipe_open(const struct pg_conn *c);

/* Our error code of name (pw_err_name), as stored; PW_E_FATAL for a name we do not know. */
enum pw_err pg_err_of(const char *name);

/* A column as an integer. */
int64_t pg_int(const PGresult *res, int row, int col);
/* Of a binary result (pg_query_binary): an int2, int4 or int8; a time (NULL: PW_TIME_NONE). */
int64_t pg_bin_int(const PGresult *res, int row, int col);
pw_time pg_bin_time(const PGresult *res, int row, int col);

/* A timestamptz in binary: microseconds since 2000-01-01 00:00 UTC. */
#define PG_EPOCH_US INT64_C(946684800000000)

/*
 * An array for one parameter: a text literal, {"a","b\"c",NULL}, or, once
 * pg_array_binary chose an element type, PostgreSQL's binary array format,
 * which the server copies where it would parse the literal (array_in was
 * a tenth of its time in a backlog: docs/benchmark.md).
 */
struct pg_array {
    char *p;
    size_t len, cap;
    size_t n;
    unsigned oid; /* binary: the elements' type (PG_OID_*); 0: a text literal */
    bool nulls;   /* binary: some element is NULL */
    bool failed;  /* out of memory: pg_array_done returns NULL */
};

#define PG_OID_TEXT 25u
#define PG_OID_TIMESTAMPTZ 1184u

/*
 * Makes a, still empty, a binary array of oid's elements: text (added by
 * pg_array_add or pg_array_add_hex) or timestamptz (pg_array_add_time).
 * The statement must take it as that type's array, and its length and
 * format 1 (pg_arrays_params gives both).
 */
void pg_array_binary(struct pg_array *a, unsigned oid);

void pg_array_add(struct pg_array *a, const char *s); /* NULL adds NULL */
void pg_array_add_int(struct pg_array *a, long long v);
void pg_array_add_time(struct pg_array *a, pw_time t); /* PW_TIME_NONE adds NULL */
/* Bytes as hex text, for decode(x, 'hex') on the server; NULL adds NULL. */
void pg_array_add_hex(struct pg_array *a, const void *bytes, size_t len);
/*
 * bytes as one bytea parameter in hex ("\\x00ff"), for the caller to free;
 * NULL for NULL bytes, or when memory runs out (then bytes is not NULL).
 */
char *pg_hex_text(const void *bytes, size_t len);
/* The literal, NUL-terminated, or the binary array, owned by a; NULL if memory ran out. */
const char *pg_array_done(struct pg_array *a);
/* pg_array_done on a[0..n), as libpq's parameters; false if memory ran out. */
bool pg_arrays_params(struct pg_array *a, int n, const char **vals, int *lens, int *fmts);
void pg_array_release(struct pg_array *a);
/* pg_array_release on a[0..n). */
void pg_arrays_release(struct pg_array *a, int n);

#endif
