/*
 * The systemd notifier against a NOTIFY_SOCKET this test reads, as systemd
 * would: READY=1 only once joined with both dependencies up, WATCHDOG=1
 * only while the loop's heartbeat is fresh, STOPPING=1 once a stop is asked.
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "adapters/systemd/notify_systemd.h"

/* Every datagram that comes within ms, joined with '|', into buf. */
static void gather(int fd, int ms, char *buf, size_t size)
{
    buf[0] = '\0';
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, ms) == 1) {
        char msg[256];
        ssize_t n = recv(fd, msg, sizeof msg - 1, 0);
        if (n <= 0)
            break;
        msg[n] = '\0';
        strncat(buf, msg, size - strlen(buf) - 2);
        strcat(buf, "|");
    }
}

Test(notify, ready_once_joined_watchdog_while_the_loop_turns_stopping_on_a_stop, .timeout = 30)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/pw-notify-%d.sock", (int)getpid());
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "1000000", 1); /* WatchdogSec=1 */
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);

    struct pw_metrics m;
    pw_metrics_init(&m, "test", "post-commands");
    volatile sig_atomic_t stop = 0;
    struct pw_notify *n;
    struct pw_errbuf err;
    cr_assert_eq(pw_systemd_notify_start(&n, &m, &stop, &err), PW_OK, "%s", err.msg);
    cr_assert_not_null(n);
    static char got[8192];

    atomic_store(&m.heartbeat_ms, pw_metrics_mono_ms());
    gather(fd, 400, got, sizeof got);
    cr_assert(strstr(got, "WATCHDOG=1"), "the loop turns: %s", got);
    cr_assert(!strstr(got, "READY=1"), "not ready before it joined: %s", got);

    atomic_store(&m.joined, true);
    atomic_store(&m.dependency_up[PW_M_KAFKA], 1);
    atomic_store(&m.dependency_up[PW_M_STORE], 1);
    atomic_store(&m.heartbeat_ms, pw_metrics_mono_ms() - 5000); /* the loop is stuck */
    gather(fd, 700, got, sizeof got);
    cr_assert(strstr(got, "READY=1"), "joined, both up: %s", got);
    cr_assert(!strstr(got, "WATCHDOG=1"), "no watchdog for a stuck loop: %s", got);

    stop = 1;
    gather(fd, 600, got, sizeof got);
    cr_assert(strstr(got, "STOPPING=1"), "%s", got);
    pw_systemd_notify_stop(n);
    close(fd);
    unlink(path);

    unsetenv("NOTIFY_SOCKET");
    cr_assert_eq(pw_systemd_notify_start(&n, &m, &stop, &err), PW_OK);
    cr_assert_null(n, "not under systemd: no thread at all");
}
