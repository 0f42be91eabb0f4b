#!/usr/bin/env bash
# Backing services for `npm run test:full` on a developer or CI machine, without Docker:
# PostgreSQL and Redis from the machine's Debian packages, MinIO built from source with Go.
#
#   scripts/services.sh up      start whatever is not answering, create the `filehub` bucket
#   scripts/services.sh env     print the `export ...` lines for `npm run test:full`
#   scripts/services.sh status  show what answers
#   scripts/services.sh down    stop the MinIO that `up` started (PostgreSQL/Redis are left alone)
#
# Every command is idempotent. Services that already answer are used as they are, whoever
# started them. Progress goes to stderr, so `eval "$(scripts/services.sh env)"` stays clean.
set -euo pipefail

# Pinned MinIO source version (Go pseudo-version), built with `go install`.
MINIO_MODULE="github.com/minio/minio"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

PG_HOST=127.0.0.1
PG_PORT=5432
PG_USER=postgres
PG_DB="test"
REDIS_HOST=127.0.0.1
REDIS_PORT=6379
# The addresses can be moved (e.g. to try the script beside another MinIO); `env` follows them.
MINIO_ADDRESS="${FILEHUB_MINIO_ADDRESS:-127.0.0.1:9000}"
MINIO_CONSOLE_ADDRESS="${FILEHUB_MINIO_CONSOLE_ADDRESS:-127.0.0.1:9001}"
MINIO_URL="http://${MINIO_ADDRESS}"
MINIO_USER=minioadmin
MINIO_PASSWORD=minioadmin
S3_REGION=us-east-1
BUCKET=filehub

MINIO_DATA_DIR="${MINIO_DATA_DIR:-/tmp/filehub-minio}"
# Bucket notifications: MinIO's webhook target `filehub` posts object-created events to an API on this fixed
# local port (the full-profile test that needs it listens there). Events wait in a queue dir while no API
# listens, so the target is registered even when MinIO starts first.
EVENTS_PORT="${FILEHUB_EVENTS_PORT:-39099}"
EVENTS_TOKEN="${FILEHUB_EVENTS_TOKEN:-filehub-development-storage-events-token}"
EVENTS_TARGET=FILEHUB
# Pid file and log of the MinIO this script starts (kept outside the data dir: MinIO treats
# every top-level folder of its data dir as a bucket).
STATE_DIR="${FILEHUB_SERVICES_STATE_DIR:-/tmp/filehub-services}"
MINIO_PID_FILE="${STATE_DIR}/minio.pid"
MINIO_LOG="${STATE_DIR}/minio.log"

# Bounded waits, in seconds.
PG_WAIT="${PG_WAIT:-60}"
REDIS_WAIT="${REDIS_WAIT:-30}"
MINIO_WAIT="${MINIO_WAIT:-90}"

# Go's usual install location, in case PATH lacks it (non-login shells).
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="/usr/local/go/bin:${PATH}"
fi

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

# wait_until SECONDS DESCRIPTION COMMAND...: poll COMMAND once a second until it succeeds.
wait_until() {
  local limit=$1 what=$2 waited=0
  shift 2
  until "$@"; do
    if (( waited >= limit )); then
      return 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "${what}: ready after ${waited}s"
}

# ---------------------------------------------------------------- PostgreSQL
pg_answers() { pg_isready -h "$PG_HOST" -p "$PG_PORT" -q >/dev/null 2>&1; }

pg_up() {
  command -v pg_isready >/dev/null || die "pg_isready not found: install PostgreSQL (Debian: apt-get install -y postgresql)"
  if pg_answers; then
    log "PostgreSQL: already answering on ${PG_HOST}:${PG_PORT}"
  else
    command -v pg_ctlcluster >/dev/null || die "PostgreSQL does not answer and pg_ctlcluster is missing"
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$version" ]] || die "no cluster under /etc/postgresql"
    log "PostgreSQL: not answering; starting cluster ${version}/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start \
      || log "PostgreSQL: pg_ctlcluster exited $?; waiting for the server anyway"
    wait_until "$PG_WAIT" "PostgreSQL" pg_answers \
      || die "PostgreSQL did not answer within ${PG_WAIT}s (see /var/log/postgresql/)"
  fi
  # test:full points DATABASE_URL at the `test` database; make sure it is there.
  local exists
  exists=$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -tAXc \
    "SELECT 1 FROM pg_database WHERE datname = '${PG_DB}'") \
    || die "cannot connect to PostgreSQL as ${PG_USER} (trust auth expected on ${PG_HOST})"
  if [[ "$exists" != 1 ]]; then
    log "PostgreSQL: creating database ${PG_DB}"
    createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  fi
}

# ---------------------------------------------------------------- Redis
redis_answers() { [[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; }

redis_up() {
  command -v redis-cli >/dev/null || die "redis-cli not found: install Redis (Debian: apt-get install -y redis-server)"
  if redis_answers; then
    log "Redis: already answering on ${REDIS_HOST}:${REDIS_PORT}"
    return
  fi
  log "Redis: not answering; starting redis-server"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_until "$REDIS_WAIT" "Redis" redis_answers \
    || die "Redis did not answer within ${REDIS_WAIT}s (see /var/log/redis/ci.log)"
}

# ---------------------------------------------------------------- MinIO
minio_live() { curl -fsS -o /dev/null --max-time 3 "${MINIO_URL}/minio/health/live" 2>/dev/null; }

go_bin_dir() {
  if command -v go >/dev/null; then
    printf '%s/bin\n' "$(go env GOPATH | cut -d: -f1)"
  else
    printf '%s/go/bin\n' "$HOME"
  fi
}

# Prints the path of the MinIO binary, building it first if needed.
minio_binary() {
  local dir candidate
  dir=$(go_bin_dir)
  for candidate in "$dir/minio" "$HOME/go/bin/minio"; do
    if [[ -x "$candidate" ]]; then
      printf '%s\n' "$candidate"
      return
    fi
  done
  command -v go >/dev/null || die "MinIO is not built and Go is not installed (need go to build ${MINIO_MODULE})"
  log "MinIO: building ${MINIO_MODULE}@${MINIO_VERSION} with $(go version | cut -d' ' -f3) (about 3 minutes)"
  go install "${MINIO_MODULE}@${MINIO_VERSION}" >&2 || die "go install of MinIO failed"
  [[ -x "$dir/minio" ]] || die "go install finished but ${dir}/minio is missing"
  log "MinIO: built ${dir}/minio"
  printf '%s\n' "$dir/minio"
}

# Pid from the pid file if that process is still a MinIO server; empty otherwise.
our_minio_pid() {
  local pid
  [[ -f "$MINIO_PID_FILE" ]] || return 0
  pid=$(<"$MINIO_PID_FILE")
  if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
    && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'minio server'; then
    printf '%s\n' "$pid"
  fi
}

minio_up() {
  command -v curl >/dev/null || die "curl not found"
  if minio_live; then
    log "MinIO: already live on ${MINIO_ADDRESS}"
  else
    local pid binary
    pid=$(our_minio_pid)
    if [[ -n "$pid" ]]; then
      log "MinIO: started earlier by this script (pid ${pid}) but not live yet; waiting"
    else
      binary=$(minio_binary)
      mkdir -p "$MINIO_DATA_DIR" "$STATE_DIR"
      log "MinIO: starting ${binary} (data ${MINIO_DATA_DIR}, log ${MINIO_LOG})"
      mkdir -p "${STATE_DIR}/minio-events"
      env MINIO_ROOT_USER="$MINIO_USER" MINIO_ROOT_PASSWORD="$MINIO_PASSWORD" MINIO_UPDATE=off \
        "MINIO_NOTIFY_WEBHOOK_ENABLE_${EVENTS_TARGET}=on" \
        "MINIO_NOTIFY_WEBHOOK_ENDPOINT_${EVENTS_TARGET}=http://127.0.0.1:${EVENTS_PORT}/api/storage-events" \
        "MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_${EVENTS_TARGET}=${EVENTS_TOKEN}" \
        "MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_${EVENTS_TARGET}=${STATE_DIR}/minio-events" \
        nohup "$binary" server "$MINIO_DATA_DIR" \
        --address "$MINIO_ADDRESS" --console-address "$MINIO_CONSOLE_ADDRESS" \
        >>"$MINIO_LOG" 2>&1 </dev/null &
      pid=$!
      echo "$pid" >"$MINIO_PID_FILE"
    fi
    # Wait until live, giving up early if the process exits (e.g. port taken).
    local waited=0
    until minio_live; do
      if ! kill -0 "$pid" 2>/dev/null || (( waited >= MINIO_WAIT )); then
        log "MinIO: last lines of ${MINIO_LOG}:"
        tail -n 30 "$MINIO_LOG" >&2 2>/dev/null || true
        rm -f "$MINIO_PID_FILE"
        die "MinIO did not become live (waited ${waited}s of at most ${MINIO_WAIT}s)"
      fi
      sleep 1
      waited=$((waited + 1))
    done
    log "MinIO: live after ${waited}s"
  fi
  ensure_bucket
}

# s3_curl BODY_FILE METHOD: signed S3 request on the bucket with curl's SigV4 support
# (curl >= 7.75, no mc or node_modules needed). Prints the HTTP status; the body goes to BODY_FILE.
s3_curl() {
  local body=$1 method=$2 how=(-X "$2")
  # A HEAD answer has no body: -I tells curl not to wait for one.
  [[ "$method" == HEAD ]] && how=(-I)
  curl -sS -o "$body" -w '%{http_code}' --max-time 15 "${how[@]}" \
    --aws-sigv4 "aws:amz:${S3_REGION}:s3" --user "${MINIO_USER}:${MINIO_PASSWORD}" \
    "${MINIO_URL}/${BUCKET}"
}

ensure_bucket() {
  local body status
  body=$(mktemp)
  status=$(s3_curl /dev/null HEAD) || status=curl-error
  case "$status" in
    200)
      log "MinIO: bucket ${BUCKET} exists"
      ;;
    404)
      status=$(s3_curl "$body" PUT) || status=curl-error
      if [[ "$status" == 200 ]] || grep -q BucketAlreadyOwnedByYou "$body"; then
        log "MinIO: bucket ${BUCKET} created"
      else
        cat "$body" >&2 || true
        rm -f "$body"
        die "creating bucket ${BUCKET} failed (HTTP ${status})"
      fi
      ;;
    403)
      rm -f "$body"
      die "MinIO on ${MINIO_ADDRESS} refused ${MINIO_USER}/${MINIO_PASSWORD} (HTTP 403): a MinIO with other credentials is running there"
      ;;
    *)
      rm -f "$body"
      die "checking bucket ${BUCKET} failed (HTTP ${status})"
      ;;
  esac
  rm -f "$body"
}

minio_down() {
  local pid
  pid=$(our_minio_pid)
  if [[ -z "$pid" ]]; then
    rm -f "$MINIO_PID_FILE"
    log "MinIO: none started by this script is running; nothing to stop"
    return
  fi
  log "MinIO: stopping pid ${pid}"
  kill -TERM "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= 20 )); then
      log "MinIO: still running after 20s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$MINIO_PID_FILE"
  log "MinIO: stopped"
}

# ---------------------------------------------------------------- commands
print_env() {
  cat <<EOF
export DATABASE_URL='postgresql://${PG_USER}@${PG_HOST}:${PG_PORT}/${PG_DB}'
export REDIS_URL='redis://${REDIS_HOST}:${REDIS_PORT}'
export STORAGE_DRIVER='s3'
export S3_ENDPOINT='${MINIO_URL}'
export S3_REGION='${S3_REGION}'
export S3_BUCKET='${BUCKET}'
export S3_ACCESS_KEY_ID='${MINIO_USER}'
export S3_SECRET_ACCESS_KEY='${MINIO_PASSWORD}'
export S3_FORCE_PATH_STYLE='true'
export FILEHUB_EVENTS_PORT='${EVENTS_PORT}'
export FILEHUB_EVENTS_TOKEN='${EVENTS_TOKEN}'
export FILEHUB_EVENTS_ARN='arn:minio:sqs::${EVENTS_TARGET}:webhook'
EOF
}

status() {
  local rc=0 pid
  if pg_answers; then log "PostgreSQL: up (${PG_HOST}:${PG_PORT})"; else log "PostgreSQL: DOWN"; rc=1; fi
  if redis_answers; then log "Redis: up (${REDIS_HOST}:${REDIS_PORT})"; else log "Redis: DOWN"; rc=1; fi
  pid=$(our_minio_pid)
  if minio_live; then
    log "MinIO: up (${MINIO_ADDRESS}${pid:+, started by this script as pid ${pid}})"
  else
    log "MinIO: DOWN"; rc=1
  fi
  return "$rc"
}

usage() {
  echo "usage: $0 up|env|status|down" >&2
  exit 2
}

main() {
  [[ $# -eq 1 ]] || usage
  case "$1" in
    up)
      pg_up
      redis_up
      minio_up
      log "all services ready"
      ;;
    env) print_env ;;
    status) status ;;
    down) minio_down ;;
    *) usage ;;
  esac
}

main "$@"
