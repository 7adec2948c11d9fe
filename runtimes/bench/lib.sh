# lib.sh - helpers the comparison scripts share (compare.sh, s3_compare.sh); source it.

# wait_listening PORT NAME: waits up to 5 s for a listener on 127.0.0.1:PORT.
wait_listening() {
  for _ in $(seq 1 50); do
    ss -ltnH "sport = :$1" | grep -q . && return 0
    sleep 0.1
  done
  echo "$2: did not start" >&2; return 1
}

# stop_pidfile FILE: TERM the process whose pid FILE holds, KILL it after 10 s, remove FILE.
stop_pidfile() {
  local pf=$1
  [ -s "$pf" ] || return 0
  kill -TERM "$(cat "$pf")" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$(cat "$pf")" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$(cat "$pf")" 2>/dev/null
  rm -f "$pf"
}

# free_port: a TCP port on 127.0.0.1 that the system just handed out (and released).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
