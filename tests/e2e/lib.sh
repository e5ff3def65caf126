# Shared by the e2e scripts (sourced): where the programs are, and the
# check helpers. Each script prints "NAME: P passed, F failed" at its end.
root=$(cd "$(dirname "$0")/../.." && pwd)
PW="$root/build/postworker"
PC="$root/build/postctl"
pass=0
fail=0
ok() { pass=$((pass + 1)); }
no() { fail=$((fail + 1)); echo "FAIL: $1"; }
# check NAME CMD...: CMD must succeed.
check() { name=$1; shift; if "$@"; then ok; else no "$name"; fi; }
# until_ok N CMD...: retry CMD for up to N seconds.
until_ok() { n=$1; shift; i=0; while [ $i -lt $((n * 5)) ]; do "$@" && return 0; sleep 0.2; i=$((i + 1)); done; return 1; }
