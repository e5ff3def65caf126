/*
 * make sim [SECONDS=N]: runs seeds one after another for N seconds (60 by
 * default), from a start seed that changes with each run (or --from), and
 * prints what it tried: seeds, steps, port calls, crashes at how many
 * distinct calls, faults, pauses, clean restarts, rebalances. A violation
 * stops it with the seed, the command that replays it exactly, and the
 * end of its trace (the whole trace in build/).
 *
 *   build/sim [--seconds N] [--from SEED] [--seeds N]
 *   build/sim --seed SEED [--trace]    one seed; --trace prints what happened
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/sim/sim.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t parse_seed(const char *s)
{
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || end == s || *end) {
        fprintf(stderr, "sim: '%s' is not a seed (a number, 0x... for hex)\n", s);
        exit(2);
    }
    return v;
}

/* The failing seed again, traced into a file; its last lines shown. */
static void replay_traced(uint64_t seed)
{
    char path[64];
    snprintf(path, sizeof path, "build/sim-trace-%#llx.txt", (unsigned long long)seed);
    FILE *f = fopen(path, "w+");
    if (!f) {
        printf("  (cannot write %s: %s)\n", path, strerror(errno));
        return;
    }
    struct sim_stats st = {0};
    sim_trace_file = f;
    sim_run_seed(seed, true, &st);
    sim_trace_file = NULL;
    long lines = 0;
    int c;
    rewind(f);
    while ((c = fgetc(f)) != EOF)
        lines += c == '\n';
    rewind(f);
    printf("the end of its trace (all %ld lines in %s):\n", lines, path);
    long skip = lines > 40 ? lines - 40 : 0, at = 0;
    char line[1024];
    while (fgets(line, sizeof line, f))
        if (at++ >= skip)
            fputs(line, stdout);
    fclose(f);
}

int main(int argc, char **argv)
{
    double seconds = 60;
    uint64_t from = (uint64_t)time(NULL) * 1000003u, one = 0, max_seeds = 0;
    bool single = false, trace = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--trace") == 0) {
            trace = true;
        } else if (v && strcmp(a, "--seconds") == 0) {
            char *end;
            seconds = strtod(v, &end);
            if (end == v || *end || !(seconds > 0 && seconds <= 86400)) {
                fprintf(stderr, "sim: --seconds takes a number of seconds above 0, not '%s'\n", v);
                return 2;
            }
            i++;
        } else if (v && strcmp(a, "--from") == 0) {
            from = parse_seed(v);
            i++;
        } else if (v && strcmp(a, "--seeds") == 0) {
            max_seeds = parse_seed(v);
            i++;
        } else if (v && strcmp(a, "--seed") == 0) {
            one = parse_seed(v);
            single = true;
            i++;
        } else {
            fprintf(stderr, "usage: sim [--seconds N] [--from SEED] [--seeds N] | --seed SEED "
                            "[--trace]\n");
            return 2;
        }
    }
    struct sim_stats st = {0};
    if (single) {
        bool ok = sim_run_seed(one, trace, &st);
        printf("seed %#llx: %s\n", (unsigned long long)one, ok ? "every invariant held" : "VIOLATION");
        return ok ? 0 : 1;
    }
    double start = now_s(), elapsed = 0;
    uint64_t seed = from;
    bool ok = true;
    for (; elapsed < seconds && (!max_seeds || st.seeds < max_seeds); seed++) {
        if (!(ok = sim_run_seed(seed, false, &st)))
            break;
        elapsed = now_s() - start;
    }
    elapsed = now_s() - start;
    printf("sim: %llu seeds from %#llx in %.0f s (%.1f seeds/s): %llu commands, %llu steps, "
           "%llu port calls; %llu crashes at %u distinct calls (%.0f crash points/s), %llu "
           "transient faults, %llu commits lost, %llu pauses, %llu clean restarts, %llu "
           "rebalances, %llu releases; %llu violations\n",
           (unsigned long long)st.seeds, (unsigned long long)from, elapsed,
           (double)st.seeds / (elapsed > 0 ? elapsed : 1), (unsigned long long)st.commands,
           (unsigned long long)st.steps, (unsigned long long)st.calls,
           (unsigned long long)st.crashes, st.crash_sites,
           (double)st.crashes / (elapsed > 0 ? elapsed : 1), (unsigned long long)st.faults,
           (unsigned long long)st.lost, (unsigned long long)st.pauses, (unsigned long long)st.stops,
           (unsigned long long)st.rebalances, (unsigned long long)st.releases,
           (unsigned long long)st.violations);
    if (!ok) {
        printf("replay it: build/sim --seed %#llx --trace\n", (unsigned long long)seed);
        replay_traced(seed);
        return 1;
    }
    return 0;
}
