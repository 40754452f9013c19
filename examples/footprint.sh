#!/usr/bin/env bash
# The supervisor's own footprint and broker load, printed as a table:
#  - CPU (share of one core) and RSS of revrx-supervise with 10 idle real
#    Celery pool processes or workers, over MEASURE seconds (targets: <= 1 %,
#    <= 30 MB), once with --spawn exec (the workers engine: the pool engine
#    forks) and once with --spawn fork (the pool engine), and in each mode the
#    proportional memory (PSS) of each worker's process tree (main + prefork
#    child) and, for fork, of the app host;
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

# pss_of SUP_PID HOST_PID prints "WORKER_TREES PSS_PER_TREE_MB HOST_MB": Pss
# from /proc/PID/smaps_rollup summed over each child tree of the supervisor
# (a forked worker is re-parented to it, like an exec'd one) but the app
# host's (HOST_PID, 0 for none; /status tells it: a forked worker's cmdline
# is the host's).
pss_of() {
  /usr/bin/python3 - "$1" "$2" <<'PY'
import os, sys
sup, host_pid = int(sys.argv[1]), int(sys.argv[2])
kids = {}
for d in filter(str.isdigit, os.listdir("/proc")):
    try:
        s = open("/proc/%s/stat" % d).read()
    except OSError:
        continue
    kids.setdefault(int(s[s.rindex(")") + 2:].split()[1]), []).append(int(d))
def pss(pid):
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
def tree(pid):
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += kids.get(p, [])
        total += pss(p)
    return total
host, trees = 0, []
for c in kids.get(sup, []):
    if c == host_pid:
        host += tree(c)
    else:
        trees.append(tree(c))
per = sum(trees) / len(trees) if trees else 0
print(len(trees), "%.1f" % (per / 1024), "%.1f" % (host / 1024))
PY
}

# 1. Footprint with 10 idle workers, exec'd and forked from the app host.
hz=$(getconf CLK_TCK)
declare -A cpu rss trees pss host
for spawn in exec fork; do
  (cd "$here/app" && PATH=/usr/bin:/bin:$PATH exec "$bin" --autoscale=10,10 -Q a,b,c -A tasks --spawn "$spawn" \
    --celery-cmd "/usr/bin/python3 -m celery" --http-addr "127.0.0.1:$http_port") >"$work/sup-$spawn.log" 2>&1 &
  sup_pid=$!
  for _ in $(seq 300); do [ "$(metric 'revrx_workers{state="idle"}')" = "10" ] && break; sleep 0.2; done
  sleep 5
  t0=$(ticks "$sup_pid"); s0=$(date +%s.%N)
  sleep "$MEASURE"
  t1=$(ticks "$sup_pid"); s1=$(date +%s.%N)
  cpu[$spawn]=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz/(e-s)*100}')
  rss[$spawn]=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$sup_pid/status")
  host_pid=$(curl -s "http://127.0.0.1:$http_port/status" |
    /usr/bin/python3 -c 'import json, sys; print((json.load(sys.stdin).get("app_host") or {}).get("pid", 0))')
  read -r trees[$spawn] pss[$spawn] host[$spawn] < <(pss_of "$sup_pid" "$host_pid")
  kill -TERM "$sup_pid"; wait "$sup_pid" || true; sup_pid=
done

# 2. Round trips per poll, 3 queues, workers that never touch Redis (exec'd:
# no app host, whose import is no part of the poll).
printf '#!/bin/sh\nexec sleep 600\n' >"$work/fake-worker"; chmod +x "$work/fake-worker"
"$bin" --autoscale=1,1 -Q a,b,c --spawn exec --celery-cmd "$work/fake-worker" --http-addr "127.0.0.1:$http_port" >"$work/rt.log" 2>&1 &
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
for spawn in exec fork; do
  engine=pool; [ "$spawn" = exec ] && engine="workers (the pool engine forks)"
  echo "| supervisor CPU, 10 idle pool processes or workers, ${MEASURE}s, --spawn $spawn, engine $engine | ${cpu[$spawn]} % of one core | <= 1 % |"
  echo "| supervisor RSS, same | ${rss[$spawn]} MB | <= 30 MB |"
  echo "| PSS per worker tree, same | ${pss[$spawn]} MB per tree (${trees[$spawn]} trees) | - |"
done
echo "| app host PSS, --spawn fork | ${host[fork]} MB | - |"
echo "| Redis commands in 20 s, 3 queues | ${llen:-0} LLEN + ${lindex:-0} LINDEX over ${polls} polls | one pipeline per poll |"
