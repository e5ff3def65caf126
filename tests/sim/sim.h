/*
 * The simulator: the worker's real core (handlers/: the loop, the
 * application, the relay, the failure path) run in one thread, in virtual
 * time, over simulated adapters: a partitioned log read by a group of
 * workers that rebalances (sim_log.c), a bus whose acknowledgements fail
 * or time out (sim_bus.c), and the in-memory store, whose committed state
 * survives a crash while the rest of a process is lost (sim_proc.c). A
 * seeded PRNG decides everything: the workload, the schedule and a fault
 * at any port call (sim_world.c). After each run the invariants are
 * checked against a model of the commands (sim_check.c). The same seed
 * runs the same way, so a failing seed replays exactly.
 */
#ifndef PW_TESTS_SIM_SIM_H
#define PW_TESTS_SIM_SIM_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "adapters/fault/fault.h"
#include "adapters/inmem/inmem.h"
#include "handlers/app.h"
#include "handlers/loop.h"
#include "ports/clock.h"
#include "ports/source.h"

#define SIM_MAX_PARTS 4
#define SIM_MAX_WORKERS 3
#define SIM_SESSION_MS 3000 /* a member that has not polled for this long is evicted */
#define SIM_GROUP "sim"
#define SIM_TOPIC "commands"

/* splitmix64: small, fast, and the same everywhere. */
struct sim_rng {
    uint64_t s;
};

static inline uint64_t sim_next(struct sim_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline unsigned sim_below(struct sim_rng *r, unsigned n)
{
    return n ? (unsigned)(sim_next(r) % n) : 0;
}

/* True with probability ppm parts per million. */
static inline bool sim_chance(struct sim_rng *r, unsigned ppm)
{
    return ppm && sim_next(r) % 1000000 < ppm;
}

/* What a command does to the process or the store that runs it. */
enum sim_fate {
    SIM_HEALTHY,
    SIM_KILLER,  /* kills every process that asks the inbox about it */
    SIM_REFUSED, /* the store refuses its transaction (a constraint) */
};

/* A command the producers send (more than once, for a duplicate). */
struct sim_cmd {
    char id[24];
    char post_id[16];
    enum pw_cmd_type type;
    char title[24];
    int64_t expected;
    enum sim_fate fate;
};

/* A message in the log: a command's bytes, or garbage (cmd -1). */
struct sim_msg {
    int cmd;
    char key[16];
    char *value;
    size_t len;
    int64_t timestamp_ms;
    unsigned random_deaths; /* processes killed by a fault while running it alone */
    unsigned killer_deaths; /* processes it killed itself, running alone */
    bool read_while_held;   /* the commit that consumed it left its command held */
};

struct sim_part {
    struct sim_msg *msgs;
    size_t n, cap;
    int64_t committed; /* the group's committed offset; -1 none */
    int owner;         /* the member that owns it; -1 none */
};

/* A member of the group: one incarnation of a worker process. */
struct sim_member {
    bool live;          /* in the group */
    unsigned gen;       /* the generation it last joined */
    int64_t last_poll_ms;
    bool mine[SIM_MAX_PARTS]; /* what its source believes it owns */
    int64_t pos[SIM_MAX_PARTS];
};

/* What the bus delivered: an event or a dead letter, as the checks need it. */
struct sim_out {
    enum pw_out_kind kind;
    char event_id[PW_EVENT_ID_LEN + 1];
    char post_id[PW_POST_ID_MAX + 1];
    int64_t version;
    enum pw_event_type type;
    char title[24];
    char cause[PW_CMD_ID_BYTES + 1];
    int32_t partition; /* a dead letter's origin */
    int64_t offset;
    enum pw_err code;
    bool parked;       /* a dead letter that parked its post */
};

enum sim_state { SIM_DOWN, SIM_UP, SIM_PAUSED, SIM_STOPPING };

struct sim_world;

/* One worker slot and its current process. */
struct sim_proc {
    struct sim_world *w;
    int slot;
    unsigned incarnation;
    enum sim_state state;
    int64_t until_ms; /* DOWN: restart then; PAUSED: resume then */
    int member;
    struct pw_fault plan;
    struct pw_uow uow_in, uow;
    struct pw_store st_in, st_f, st;
    struct pw_outbox ob_in, ob;
    struct pw_bus bus_in, bus;
    struct pw_ids ids;
    struct pw_app app;
    struct pw_service svc;
    struct pw_source src;
    struct pw_loop *loop;
    volatile sig_atomic_t stop;
    unsigned end_refusals; /* asked to stop: its record of its runs' end refused so far */
    /*
     * Its runs of one message alone that have not ended, one per row of the
     * store's count (a partition, or the held commands' row last): which
     * message, and where the store counts it (offset, or a held one's seq).
     */
    struct sim_open {
        bool open;
        int32_t part;
        int64_t off;
        int64_t at;
    } opens[SIM_MAX_PARTS + 1];
    int cur;               /* the row of the run under way, -1 none */
    unsigned seen_commits; /* plan.commits when last looked at: one more ends the run */
    int asked;              /* the command the inbox was last asked about; -1 none */
    struct sim_out *pending; /* published, not yet acknowledged */
    size_t npending, cap_pending;
};

/* What a seed's world is made of (drawn from the seed). */
struct sim_config {
    unsigned parts, workers, posts, batch, relay_batch, max_attempts;
    unsigned crash_ppm, transient_ppm, publish_ppm, flush_ppm; /* per port call */
    unsigned killers, refused, malformed, duplicates;
    unsigned stop_refusals; /* a stop's record of its runs' end refused that often first */
};

struct sim_stats {
    uint64_t seeds, steps, calls, crashes, faults, pauses, stops, rebalances, releases, lost;
    uint64_t commands, violations;
    unsigned crash_sites; /* distinct port calls a crash was injected at */
};

/* A run alone whose process died: a death of its message once another run starts there. */
struct sim_orphan {
    int32_t part;
    int64_t off;
    bool killer;
};
#define SIM_MAX_ORPHANS 256

struct sim_world {
    uint64_t seed;
    struct sim_rng rng;
    struct sim_config cfg;
    bool trace;
    bool faulty;          /* faults are injected (false while healing) */
    int64_t now_ms;       /* virtual time */
    struct pw_clock clock; /* on now_ms, for every process's loop */
    struct pw_inmem_store *store;
    struct pw_store admin; /* the operator's handle: releases */
    struct pw_uow probe;   /* asks what is held after each commit (sim_note_commits) */
    unsigned probe_commits[SIM_MAX_WORKERS]; /* each process's commits when last asked */
    int64_t consumed[SIM_MAX_PARTS];         /* the stored offsets when last asked */
    struct sim_cmd *cmds;
    size_t ncmds;
    int *plan;            /* the produce order: command index, or -1 - post for garbage */
    size_t nplan, produced;
    struct sim_part parts[SIM_MAX_PARTS];
    struct sim_member *members;
    size_t nmembers, cap_members;
    unsigned gen;
    struct sim_proc procs[SIM_MAX_WORKERS];
    struct sim_proc *current; /* whose step runs, for the log */
    struct sim_orphan orphans[SIM_MAX_ORPHANS];
    size_t norphans;
    struct sim_out *delivered;
    size_t ndelivered, cap_delivered;
    char violation[512];  /* the first one */
    struct sim_stats *stats;
    uint64_t incarnations;
};

/*
 * After any process committed: the messages the stored offsets passed since
 * are marked read_while_held if their command is held now. The model needs
 * it: a copy of a held command is a duplicate when the worker reads it,
 * whatever becomes of the held one later (sim_check.c).
 */
void sim_note_commits(struct sim_world *w);

/* sim_world.c; the trace goes to sim_trace_file, or stdout when NULL. */
extern FILE *sim_trace_file;
void sim_trace(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sim_violation(struct sim_world *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Runs one seed's world to the end and checks it; true when it held. */
bool sim_run_seed(uint64_t seed, bool trace, struct sim_stats *stats);

/* The command c (number k) as a producer sends it; strings borrowed from c. */
void sim_cmd_build(const struct sim_cmd *c, int k, struct pw_cmd *cmd);

/* sim_log.c: the log, the group and the source port on them. */
void sim_log_append(struct sim_world *w, int cmd, const char *key, char *value, size_t len);
int sim_group_join(struct sim_world *w);
void sim_group_leave(struct sim_world *w, int member);
void sim_group_tick(struct sim_world *w);
enum pw_err sim_source_open(struct pw_source *src, struct sim_proc *p);

/* sim_bus.c: the bus port whose acknowledgements fail, time out or deliver a prefix. */
enum pw_err sim_bus_open(struct pw_bus *bus, struct sim_proc *p);
void sim_bus_drop(struct sim_proc *p);

/* sim_proc.c: a process's life. */
extern const struct pw_clock_ops sim_clock_ops;
bool sim_proc_start(struct sim_proc *p);
void sim_proc_crash(struct sim_proc *p, const char *why);
void sim_proc_close(struct sim_proc *p);
void sim_proc_rejoin(struct sim_proc *p);
/* Asks the hook about a call of the sim's own ports; PW_OK, or the fault (err set). */
enum pw_err sim_proc_call(struct sim_proc *p, const char *op, struct pw_errbuf *err);

/* sim_check.c */
void sim_check(struct sim_world *w);

#endif
