#!/bin/sh
# make install as a packager runs it (PREFIX, DESTDIR), the systemd unit
# checked by systemd-analyze verify, and the man pages by groff's warnings.
set -u
. "$(dirname "$0")/lib.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$root" || exit 1

make -s install DESTDIR="$tmp/dest" PREFIX=/usr >"$tmp/install.log" 2>&1
check "make install DESTDIR=... PREFIX=/usr" test $? = 0
d="$tmp/dest/usr"
check "the programs" test -x "$d/bin/postworker" -a -x "$d/bin/postctl"
check "that run" sh -c "'$d/bin/postworker' --version | grep -q '^postworker [0-9]'"
check "the man pages" test -f "$d/share/man/man1/postworker.1" -a -f "$d/share/man/man1/postctl.1"
check "the unit, its ExecStart in PREFIX's bin" grep -q '^ExecStart=/usr/bin/postworker run$' \
    "$d/lib/systemd/system/postworker.service"
check "the example environment and the dashboard" \
    test -f "$d/share/doc/postworker/postworker.env" -a -f "$d/share/doc/postworker/grafana-dashboard.json"

# Installed for real under a prefix of its own, so that ExecStart exists.
make -s install PREFIX="$tmp/prefix" >>"$tmp/install.log" 2>&1
unit="$tmp/prefix/lib/systemd/system/postworker.service"
if command -v systemd-analyze >/dev/null; then
    # MANPATH: verify looks up Documentation=man:postworker(1), installed beside it.
    MANPATH="$tmp/prefix/share/man" systemd-analyze verify "$unit" >"$tmp/verify.log" 2>&1
    check "systemd-analyze verify accepts the unit" test $? = 0
    check "without a word of complaint" sh -c "! grep -q postworker.service '$tmp/verify.log'"
    [ "$fail" = 0 ] || cat "$tmp/verify.log"
    # As a packager builds it: the DESTDIR tree as the root, its ExecStart inside it. The
    # unit itself is checked; the targets it orders after are the host's to have.
    MANPATH="$d/share/man" systemd-analyze verify --root="$tmp/dest" --recursive-errors=no \
        "$d/lib/systemd/system/postworker.service" >"$tmp/verify-dest.log" 2>&1
    check "systemd-analyze verify accepts the DESTDIR install's unit" test $? = 0
    check "without a word of complaint there either" test ! -s "$tmp/verify-dest.log"
    [ "$fail" = 0 ] || cat "$tmp/verify-dest.log"
else
    no "systemd-analyze is missing: make deps installs systemd"
fi

for page in man/postworker.1 man/postctl.1; do
    groff -man -ww -z "$page" >"$tmp/groff.log" 2>&1
    check "$page renders without a warning" test ! -s "$tmp/groff.log"
done
check "every option of postworker --help is in its man page" sh -c '
    for f in $(build/postworker --help | grep -o -- "--[a-z-]*" | sort -u); do
        grep -q -- "$(echo "$f" | sed "s/-/\\\\\\\\-/g")" man/postworker.1 || { echo "missing $f"; exit 1; }
    done'

echo "install: $pass passed, $fail failed"
[ "$fail" = 0 ]
