#!/usr/bin/env bash
# Smoke test of a running server: curl calls every route and fails on the first unexpected status.
#   scripts/smoke.sh http://localhost:5002 "$MY_API_KEY" [MODEL_ID]
# The model defaults to the first one /v1/models lists; only curl (and bash) are needed.
set -uo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 URL API_KEY [MODEL_ID]" >&2
    exit 2
fi
URL="${1%/}"
KEY="$2"
BODY="$(mktemp)"
trap 'rm -f "$BODY"' EXIT
FAILED=0

# check EXPECTED_STATUS METHOD PATH [JSON_BODY] [extra curl args...]; CHECK_KEY=... overrides the key
# (CHECK_KEY=none sends no Authorization header)
check() {
    local want="$1" method="$2" path="$3" data="${4:-}"
    shift 4 2>/dev/null || shift $#
    local args=(-sS -o "$BODY" -w '%{http_code}' -X "$method" "$@")
    if [ "${CHECK_KEY:-$KEY}" != "none" ]; then
        args+=(-H "Authorization: Bearer ${CHECK_KEY:-$KEY}")
    fi
    if [ -n "$data" ]; then
        args+=(-H "Content-Type: application/json" --data "$data")
    fi
    local got
    got="$(curl "${args[@]}" "$URL$path")" || got="curl-failed"
    if [ "$got" = "$want" ]; then
        printf 'ok    %s %-38s %s\n' "$method" "$path" "$got"
    else
        printf 'FAIL  %s %-38s got %s, expected %s: %s\n' "$method" "$path" "$got" "$want" \
            "$(head -c 300 "$BODY")" >&2
        FAILED=1
    fi
}

MODEL="${3:-}"
if [ -z "$MODEL" ]; then
    MODEL="$(curl -sS -H "Authorization: Bearer $KEY" "$URL/v1/models" \
        | sed -n 's/^{"object":"list","data":\[{"id":"\([^"]*\)".*/\1/p')"
fi
if [ -z "$MODEL" ]; then
    echo "FAIL  cannot read a model id from $URL/v1/models" >&2
    exit 1
fi
echo "smoke test of $URL with model $MODEL"
GEN='"max_tokens":4,"temperature":0'

# public routes: no key sent
for route in /health /metrics /openapi.json /docs/ /v1 /v1/; do
    CHECK_KEY=none check 200 GET "$route"
done
CHECK_KEY=none check 200 GET / "" -H "Accept: text/html"
CHECK_KEY=none check 200 GET / "" -H "Accept: application/json"
# the OpenAI API
check 200 GET /v1/models
check 200 GET "/v1/models/$MODEL"
check 404 GET /v1/models/no-such-model
check 200 POST /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"Hello\",$GEN}"
check 200 POST /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"Hello\",$GEN,\"stream\":true}"
check 200 POST /v1/chat/completions "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],$GEN}"
check 200 POST /v1/chat/completions \
    "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],$GEN,\"stream\":true}"
check 400 POST /v1/completions "{\"model\":\"$MODEL\",\"prompt\":\"Hello\",\"temperature\":9}"
# model management
check 200 POST "/v1/models/$MODEL/load"
check 200 GET /model/info
# the simple API
check 200 POST /generate "{\"prompt\":\"Hello\",$GEN}"
check 200 POST /chat "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],$GEN}"
check 200 POST /batch "{\"prompts\":[\"Hello\",\"World\"],$GEN}"
check 400 POST /batch "{\"prompts\":\"not a list\"}"
# tokenizer
check 200 POST /tokenize "{\"model\":\"$MODEL\",\"prompt\":\"Hello world\"}"
check 200 POST /detokenize "{\"model\":\"$MODEL\",\"tokens\":[0,1]}"
# keys: a wrong key is refused on every protected route
for route in "GET /v1/models" "POST /v1/completions" "POST /generate" "POST /tokenize" "GET /model/info"; do
    CHECK_KEY=wrong-key check 401 "${route% *}" "${route#* }" "{}"
done
check 200 POST "/v1/models/$MODEL/unload"

if [ "$FAILED" != 0 ]; then
    echo "smoke test FAILED" >&2
    exit 1
fi
echo "smoke test passed"
