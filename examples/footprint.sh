#!/usr/bin/env bash
# The supervisor's own footprint and broker load, printed as a table:
#  - CPU (share of one core) and RSS of revrx-supervise with 10 idle real
#    Celery workers, over MEASURE seconds (targets: <= 1 %, <= 30 MB);
#  - Redis round trips per poll with 3 queues, with workers that do not
#    talk to Redis, so every command counted is the supervisor's.
# Usage: examples/footprint.sh [bin/revrx-supervise]   (MEASURE=60 by default)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "${1:-bin/revrx-supervise}")" && pwd)/$(basename "${1:-bin/revrx-supervise}")
MEASURE=${MEASURE:-60}
work=$(mktemp -d /tmp/revrx-footprint.XXXXXX)
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port) http_port=$(free_port)
sup_pid= redis_pid=
cleanup() {
  trap - EXIT INT TERM
  [ -n "$sup_pid" ] && kill -TERM "$sup_pid" 2>/dev/null && wait "$sup_pid" 2>/dev/null || true
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
redis_pid=$!
for _ in $(seq 50); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
export CELERY_BROKER_URL="redis://127.0.0.1:$redis_port/0"
metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v k="$1" '$1==k {print $2}'; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# 1. Footprint with 10 idle workers.
(cd "$here/app" && PATH=/usr/bin:/bin:$PATH exec "$bin" --autoscale=10,10 -Q a,b,c -A tasks \
  --celery-cmd "/usr/bin/python3 -m celery" --http-addr "127.0.0.1:$http_port") >"$work/sup.log" 2>&1 &
sup_pid=$!
for _ in $(seq 300); do [ "$(metric 'revrx_workers{state="idle"}')" = "10" ] && break; sleep 0.2; done
sleep 5
hz=$(getconf CLK_TCK)
t0=$(ticks "$sup_pid"); s0=$(date +%s.%N)
sleep "$MEASURE"
t1=$(ticks "$sup_pid"); s1=$(date +%s.%N)
cpu=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz/(e-s)*100}')
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$sup_pid/status")
kill -TERM "$sup_pid"; wait "$sup_pid" || true; sup_pid=

# 2. Round trips per poll, 3 queues, workers that never touch Redis.
printf '#!/bin/sh\nexec sleep 600\n' >"$work/fake-worker"; chmod +x "$work/fake-worker"
"$bin" --autoscale=1,1 -Q a,b,c --celery-cmd "$work/fake-worker" --http-addr "127.0.0.1:$http_port" >"$work/rt.log" 2>&1 &
sup_pid=$!
sleep 2
redis-cli -p "$redis_port" config resetstat >/dev/null
sleep 20
stats=$(redis-cli -p "$redis_port" info commandstats)
kill -TERM "$sup_pid"; wait "$sup_pid" || true; sup_pid=
calls() { echo "$stats" | tr -d '\r' | awk -F'[:=,]' -v c="cmdstat_$1" '$1==c {print $3}'; }
llen=$(calls llen); lindex=$(calls lindex)
polls=$(( ${llen:-0} / 12 ))

echo "| what | measured | target |"
echo "|---|---|---|"
echo "| supervisor CPU, 10 idle workers, ${MEASURE}s | ${cpu} % of one core | <= 1 % |"
echo "| supervisor RSS, 10 idle workers | ${rss} MB | <= 30 MB |"
echo "| Redis commands in 20 s, 3 queues | ${llen:-0} LLEN + ${lindex:-0} LINDEX over ${polls} polls | one pipeline per poll |"
