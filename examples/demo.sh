#!/usr/bin/env bash
# make demo: revrx-supervise on the example app with a burst, on a private
# broker it starts itself: Redis, or RabbitMQ with BROKER=rabbitmq
# (make demo BROKER=rabbitmq). It shows the pool grow and shrink, prints a
# summary, and cleans up after itself (also on Ctrl-C).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$(dirname "${1:-bin/revrx-supervise}")" && pwd)/$(basename "${1:-bin/revrx-supervise}")
work=$(mktemp -d /tmp/revrx-demo.XXXXXX)
MAX=${MAX:-6} MIN=${MIN:-1} KEEPALIVE=${KEEPALIVE:-5s} BURST=${BURST:-30} TASK_SECONDS=${TASK_SECONDS:-2} BROKER=${BROKER:-redis}
case "$BROKER" in redis | rabbitmq) ;; *) echo "BROKER=$BROKER: accepted: redis, rabbitmq" >&2; exit 2 ;; esac

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
broker_port=$(free_port)
http_port=$(free_port)
broker_pid= sup_pid=

cleanup() {
  trap - EXIT INT TERM
  if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
    kill -TERM "$sup_pid" 2>/dev/null || true
    wait "$sup_pid" 2>/dev/null || true
  fi
  [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null && wait "$broker_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

if [ "$BROKER" = redis ]; then
  redis-server --port "$broker_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 50); do redis-cli -p "$broker_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  export CELERY_BROKER_URL="redis://127.0.0.1:$broker_port/0"
  broker_name=Redis
else
  "$here/rabbitmq.sh" "$work/rabbitmq" "$broker_port" "$(free_port)" >"$work/rabbitmq.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 300); do
    /usr/bin/python3 -c 'import socket, sys; s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1); s.sendall(b"AMQP\0\0\x09\x01"); sys.exit(s.recv(1) != b"\x01")' "$broker_port" 2>/dev/null && break
    sleep 0.2
  done
  export CELERY_BROKER_URL="amqp://guest:guest@127.0.0.1:$broker_port//"
  broker_name=RabbitMQ
fi
export REVRX_RECORD="$work/record.jsonl"

echo "== private $broker_name on 127.0.0.1:$broker_port; revrx-supervise --autoscale=$MAX,$MIN --keepalive=$KEEPALIVE -Q demo"
(cd "$here/app" && PATH=/usr/bin:/bin:$PATH exec "$bin" --autoscale="$MAX,$MIN" --keepalive="$KEEPALIVE" -Q demo -A tasks \
   --celery-cmd "/usr/bin/python3 -m celery" --http-addr "127.0.0.1:$http_port" --shutdown-timeout 20s) \
   >"$work/supervisor.log" 2>&1 &
sup_pid=$!

# The supervisor's own decisions, without the workers' banners.
tail -n +1 --pid="$sup_pid" -f "$work/supervisor.log" 2>/dev/null | grep --line-buffered -E 'msg="(scaling|desired|signal|stopped|worker stopped|worker exited|starting)' \
  | sed -u -E 's/^time=[^ ]*T([0-9:.]{8})[^ ]* /  [\1] /' &
tail_pid=$!

metric() { curl -s "http://127.0.0.1:$http_port/metrics" | awk -v k="$1" '$1==k {print $2}'; }
show() {
  printf '  t=%5.1fs  queue=%-3s  workers: starting=%s idle=%s busy=%s stopping=%s  desired=%s\n' "$1" \
    "$(metric 'revrx_queue_messages{queue="demo"}')" "$(metric 'revrx_workers{state="starting"}')" \
    "$(metric 'revrx_workers{state="idle"}')" "$(metric 'revrx_workers{state="busy"}')" \
    "$(metric 'revrx_workers{state="stopping"}')" "$(metric revrx_workers_desired)"
}
total() { local n=0 v; for s in starting idle busy stopping backoff; do v=$(metric "revrx_workers{state=\"$s\"}"); n=$((n + ${v%.*})); done; echo $n; }

for _ in $(seq 100); do [ "$(metric 'revrx_workers{state="idle"}')" = "$MIN" ] && break; sleep 0.2; done
echo "== $MIN worker idle; publishing a burst of $BURST tasks of ${TASK_SECONDS}s"
start=$(date +%s.%N)
/usr/bin/python3 "$here/producer.py" --burst "$BURST" --seconds "$TASK_SECONDS" --queue demo | sed 's/^/  producer: /'
elapsed() { /usr/bin/python3 -c "import time; print(round(time.time()-$start,1))"; }
settled=0
for _ in $(seq 240); do
  show "$(elapsed)"
  done_n=$(grep -c '"event":"end"' "$REVRX_RECORD" 2>/dev/null || true)
  if [ "${done_n:-0}" -ge "$BURST" ] && [ "$(total)" = "$MIN" ]; then settled=1; break; fi
  sleep 1
done
up=$(metric 'revrx_scaling_events_total{direction="up",reason="queue"}')
down=$(metric 'revrx_scaling_events_total{direction="down",reason="idle"}')
echo "== stopping revrx-supervise (SIGTERM)"
kill -TERM "$sup_pid"; code=0; wait "$sup_pid" || code=$?; sup_pid=
wait "$tail_pid" 2>/dev/null || true
echo
echo "== summary"
/usr/bin/python3 "$here/summarize.py" "$REVRX_RECORD" | sed 's/^/  /'
echo "  scaled up by $up worker(s) for the burst, down by $down idle worker(s) after $KEEPALIVE; back at MIN=$MIN: $([ $settled = 1 ] && echo yes || echo NO)"
echo "  revrx-supervise exit code: $code"
[ "$settled" = 1 ] && [ "$code" = 0 ]
