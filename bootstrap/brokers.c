/* Where the embedded broker's address is written down, and found (brokers.h). */
#include "bootstrap/brokers.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "adapters/kafka/client_kafka.h"
#include "bootstrap/config.h"

int pw_brokers_write(const char *brokers)
{
    if (mkdir(PW_BROKERS_DIR, 0755) != 0 && errno != EEXIST)
        return -1;
    FILE *f = fopen(PW_BROKERS_FILE, "w");
    if (!f)
        return -1;
    fprintf(f, "%s\n", brokers);
    return fclose(f);
}

/* The first line of file into buf, or NULL. */
static const char *read_line(const char *file, char *buf, size_t size)
{
    FILE *f = fopen(file, "r");
    char *line = f ? fgets(buf, (int)size, f) : NULL;
    if (f)
        fclose(f);
    if (!line)
        return NULL;
    line[strcspn(line, "\r\n")] = '\0';
    return *line ? line : NULL;
}

const char *pw_brokers_read(bool upward, char *buf, size_t size, char *path, size_t psize)
{
    char dir[PATH_MAX], file[PATH_MAX + sizeof PW_BROKERS_FILE + 1];
    if (!upward || !getcwd(dir, sizeof dir)) {
        if (path)
            snprintf(path, psize, "%s", PW_BROKERS_FILE);
        return read_line(PW_BROKERS_FILE, buf, size);
    }
    for (;;) {
        snprintf(file, sizeof file, "%s/%s", strcmp(dir, "/") ? dir : "", PW_BROKERS_FILE);
        const char *addr = read_line(file, buf, size);
        if (addr) {
            if (path)
                snprintf(path, psize, "%s", file);
            return addr;
        }
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) {
            if (strcmp(dir, "/") == 0)
                return NULL;
            strcpy(dir, "/");
            continue;
        }
        *slash = '\0';
    }
}

/*
 * KAFKA_BROKERS or --brokers, else the embedded broker a running worker
 * wrote down (here, or with upward in a parent folder); NULL if none.
 */
const char *pw_running_brokers(const struct pw_config *cfg, bool upward, char *buf,
                               size_t size)
{
    if (cfg->brokers)
        return cfg->brokers;
    const char *addr = pw_brokers_read(upward, buf, size, NULL, 0);
    return addr && pw_kafka_reachable(addr, 2000) ? addr : NULL;
}

/*
 * The embedded default when another process here already runs it: run
 * refuses (two in-memory stores on one group would each hold half the
 * posts), replay reads the running broker (a new, empty one has nothing to
 * replay). A file whose broker does not answer is left over from a crash.
 */
enum pw_err pw_embedded_elsewhere(const struct pw_config *cfg, char *buf, size_t size,
                                  const char **brokers, struct pw_errbuf *err)
{
    /* A second worker only here: one in another folder runs a broker of its own. */
    const char *running = pw_running_brokers(cfg, cfg->mode != PW_MODE_RUN, buf, size);
    if (cfg->mode == PW_MODE_REPLAY && !running)
        return pw_err_set(err, PW_E_USAGE,
                          "replay needs the broker the commands are on: set KAFKA_BROKERS, or run "
                          "it beside the worker on the embedded broker (make run)");
    if (cfg->mode == PW_MODE_RUN && running)
        return pw_err_set(err, PW_E_USAGE,
                          "a worker on the embedded broker already runs here (%s, in %s): stop "
                          "it first, or set KAFKA_BROKERS=%s to use its broker",
                          running, PW_BROKERS_FILE, running);
    *brokers = running;
    return PW_OK;
}

int pw_api_write(const char *http, int port)
{
    char host[300];
    const char *colon = strrchr(http, ':');
    size_t hlen = colon ? (size_t)(colon - http) : 0;
    snprintf(host, sizeof host, "%.*s", (int)hlen, http);
    /* Every interface is reached through loopback from here. */
    const char *reach = !host[0] || strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
                        : strcmp(host, "[::]") == 0             ? "[::1]"
                                                                : host;
    if (mkdir(PW_BROKERS_DIR, 0755) != 0 && errno != EEXIST)
        return -1;
    FILE *f = fopen(PW_API_FILE, "w");
    if (!f)
        return -1;
    fprintf(f, "http://%s:%d\n", reach, port);
    return fclose(f);
}

const char *pw_api_find(char *buf, size_t size)
{
    char addr[512], path[PATH_MAX + 32];
    if (!pw_brokers_read(true, addr, sizeof addr, path, sizeof path))
        return NULL;
    size_t n = strlen(path), tail = strlen("brokers");
    if (n < tail || n - tail + strlen("http") >= sizeof path)
        return NULL;
    strcpy(path + n - tail, "http");
    return read_line(path, buf, size);
}
