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
# api METHOD PATH [CURL ARGS...]: an HTTP request to $api_base, its body on
# standard output, its status in $api_cap/status; the exchange is added to
# $api_cap/http.jsonl, which the OpenAPI check reads (validate_captures).
api() {
    m=$1 p=$2
    shift 2
    if [ "$m" = HEAD ]; then set -- --head "$@"; else set -- -X "$m" "$@"; fi
    : >"$api_cap/b" # curl writes no file for an answer with no body
    curl -s -D "$api_cap/h" -o "$api_cap/b" -w '%{http_code}' "$@" "$api_base$p" >"$api_cap/status"
    [ "$m" != HEAD ] || : >"$api_cap/b" # curl --head writes the headers there; it reads no body
    node "$root/tools/validate/record-http.mjs" "$m" "$p" "$(cat "$api_cap/status")" \
        "$api_cap/h" "$api_cap/b" >>"$api_cap/http.jsonl"
    cat "$api_cap/b"
}
# api_status: the status of the last api call.
api_status() { cat "$api_cap/status"; }
# validate_captures TOPICS...: the three topics as the e2e test saw them, and
# every HTTP answer it had, against docs/asyncapi.yaml, the schemas and
# docs/openapi.yaml (tools/validate, installed by make deps).
validate_captures() {
    for t in "$@"; do timeout 5 "$PC" tail "$t" --from-beginning --envelope >"$api_cap/$t.jsonl" 2>/dev/null; done
    (cd "$root" && node tools/validate/validate.mjs messages $(for t in "$@"; do echo "$api_cap/$t.jsonl"; done)) \
        >"$api_cap/messages.out" 2>&1
    check "every message on the topics matches its schema" test $? = 0
    grep -E '^(FAIL|messages:)' "$api_cap/messages.out" | head -20
    (cd "$root" && node tools/validate/validate.mjs http "$api_cap/http.jsonl") >"$api_cap/http.out" 2>&1
    check "every HTTP answer matches docs/openapi.yaml" test $? = 0
    grep -E '^(FAIL|http:)' "$api_cap/http.out" | head -20
}
