#!/usr/bin/env bash
# ftps_compare.sh [SERVERS...] - FTPS figures of thinftp beside the peers, one run, each server
# alone (rounds interleave the servers: round 1 visits each, then round 2, ...; with LOCK=FILE
# each visit holds `flock FILE`, so that others sharing the peers can run between them), every
# server on the lab's certificate (`peers.sh tls-cert`) with TLS required for
# logins and data, and data connections required to resume the control connection's session
# where the server can (thinftp, vsftpd, proftpd; pure-ftpd does not check):
#   - RETR of the 1 GiB file with curl over PROT P to /dev/null (as ../shared/bench/ftps_baseline.sh),
#   - RETR and STOR of 1 GiB with thinftp-bench --tls (its client decrypts into one buffer),
#   - TLS logins/s with Python FTP_TLS (connect, AUTH TLS, login, QUIT; sequential, 100),
#   - 50 LISTs of the 10,000-file directory over PROT P in one session (Python, session reuse),
#   - the server's CPU seconds per GiB for the curl RETR and the thinftp-bench STOR (its process
#     and the session processes it reaped, from /proc): on a loaded machine the MB/s measure the
#     scheduler as much as the server, CPU time per byte does not.
#   - in each round, the ceiling: thinftp-bench --only tls-ceiling (one TLS download over loopback with
#     no FTP server, from memory and from the 1 GiB file), the most any server could show here.
# Medians of RUNS (default 3). Needs `peers.sh setup` and release builds of thinftp-smol,
# thinftp-std and thinftp-bench (cargo build --release). Loopback only.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PEERS=${PEERS:-$REPO/../shared/bench/peers.sh}
[ -f "$PEERS" ] || PEERS=/work/shared/bench/peers.sh
REL=${REL:-$REPO/target/release}
RUNS=${RUNS:-3}
SERVERS=${*:-thinftp-smol thinftp-std vsftpd proftpd pure-ftpd}
LAB=/tmp/lab
# old-thinftp-smol, old-thinftp-std: the binaries in OLD_REL (a build from before a change), to
# compare before and after in the same run.
OLD_REL=${OLD_REL:-}
declare -A PORT=( [vsftpd]=2110 [pure-ftpd]=2120 [proftpd]=2130 [thinftp-smol]=2161 [thinftp-std]=2162
                  [old-thinftp-smol]=2163 [old-thinftp-std]=2164 )
read -r CERT KEY < <(bash "$PEERS" tls-cert)

py() { python3 - "$@" <<'PY'
import ftplib, ssl, sys, time
mode, port = sys.argv[1], int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class Reuse(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
        return conn, size
if mode == "login":
    n = 100; t = time.perf_counter()
    for _ in range(n):
        f = Reuse(context=ctx); f.connect("127.0.0.1", port, timeout=10); f.login("bench", "bench"); f.quit()
    print("%.0f" % (n / (time.perf_counter() - t)))
else:
    f = Reuse(context=ctx); f.connect("127.0.0.1", port, timeout=10); f.login("bench", "bench"); f.prot_p()
    n = 50; t = time.perf_counter()
    for _ in range(n):
        lines = []; f.retrlines("LIST many", lines.append)
        assert len(lines) >= 10000, len(lines)
    print("%.1f" % ((time.perf_counter() - t) / n * 1000))
    f.quit()
PY
}
med() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print('%.0f' % statistics.median(v) if v else '-')" "$@"; }
medf2() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print('%.2f' % statistics.median(v) if v else '-')" "$@"; }
medf() { python3 -c "import statistics,sys; v=[float(x) for x in sys.argv[1:] if x]; print('%.1f' % statistics.median(v) if v else '-')" "$@"; }
bench_mb() {  # bench_mb PORT TEST -> MB/s of one thinftp-bench --tls run
  "$REL/thinftp-bench" --target "127.0.0.1:$1" --tls --only "$2" --runs 1 --json /tmp/lab/ftps-bench.json >/dev/null 2>&1 || return
  python3 -c "import json; d=json.load(open('/tmp/lab/ftps-bench.json')); print('%.0f' % d['results']['$2']['median']['mb_s'])" 2>/dev/null
}

start() {
  case $1 in
    thinftp-*|old-thinftp-*)
      local root=$LAB/root-thinftp bin=$REL/$1
      [ "${1#old-}" != "$1" ] && bin=$OLD_REL/${1#old-}
      if [ ! -d "$root" ]; then mkdir -p "$root"; cp -al "$LAB/root-vsftpd"/. "$root"/; fi
      "$bin" --root "$root" --listen "127.0.0.1:${PORT[$1]}" --user bench:bench \
        --passive-ports 30000-30999 --ftps --tls-cert "$CERT" --tls-key "$KEY" \
        --tls-required-control all --tls-required-data all -q >"$LAB/logs/$1-ftps.log" 2>&1 &
      echo $! > "$LAB/run/$1-ftps.pid" ;;
    *) TLS=1 PASV_RANGE=30000-30999 bash "$PEERS" start "$1" >/dev/null 2>&1 ;;
  esac
}
stop() {
  case $1 in
    thinftp-*|old-thinftp-*) kill "$(cat "$LAB/run/$1-ftps.pid")" 2>/dev/null; wait 2>/dev/null ;;
    *) bash "$PEERS" stop "$1" >/dev/null 2>&1 ;;
  esac
}

cpu_of() {  # cpu_of PID -> CPU seconds of PID, its threads and its reaped children
  awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14+$15+$16+$17)/hz}' "/proc/$1/stat" 2>/dev/null
}
pid_of() {
  case $1 in
    thinftp-*|old-thinftp-*) cat "$LAB/run/$1-ftps.pid" ;;
    *) cat "$LAB/run/$1.pid" ;;
  esac
}
per_gib() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (b-a))" "$@" 2>/dev/null; }
declare -A R BR BS L D CR CS
visit() {  # one round of every figure for server $1, appended to the arrays
  local s=$1 p=${PORT[$1]} pid c0 c1
  # No server pays for the writeback of the one before it.
  sync; sleep 1
  start "$s" || { echo "$s did not start" >&2; return; }
  sleep 1; pid=$(pid_of "$s")
  c0=$(cpu_of "$pid")
  R[$s]+=" $(curl -s --ssl-reqd -k -u bench:bench -o /dev/null -w '%{speed_download}' "ftp://127.0.0.1:$p/big.bin" | awk '{printf "%.0f", $1/1e6}')"
  sleep 0.5; c1=$(cpu_of "$pid"); CR[$s]+=" $(per_gib "$c0" "$c1")"
  BR[$s]+=" $(bench_mb "$p" retr)"
  c0=$(cpu_of "$pid")
  BS[$s]+=" $(bench_mb "$p" stor)"
  sleep 0.5; c1=$(cpu_of "$pid"); CS[$s]+=" $(per_gib "$c0" "$c1")"
  L[$s]+=" $(py login "$p" 2>/dev/null)"
  D[$s]+=" $(py list "$p" 2>/dev/null)"
  stop "$s"
}

# The ceiling, once a round like a server's visit (the machine's speed drifts between rounds):
# one TLS download over loopback with no FTP server (a thread of thinftp-bench sending with
# rustls), from memory and from the 1 GiB file the servers send: MB/s each, and the sender's
# CPU seconds per GiB from the file.
declare -a CM CF CC
ceiling() {
  local out
  # The last visit's uploads are written back first: the download reads from the page cache.
  sync; sleep 1
  out=$("$REL/thinftp-bench" --target 127.0.0.1:1 --only tls-ceiling --ceiling-file "$LAB/data/big.bin" \
    --runs 1 2>/dev/null | python3 -c "
import json, sys
m = json.load(sys.stdin)['results']['tls-ceiling']['median']
f = m['file']
print('%.0f %.0f %.2f' % (m['memory']['mb_s'], f['mb_s'], f['sender_cpu_s'] / f['bytes'] * 2**30))" 2>/dev/null) || return
  read -r m f c <<< "$out"
  CM+=("$m"); CF+=("$f"); CC+=("$c")
}

locked() {  # locked CMD...: runs CMD holding `flock $LOCK`, if LOCK is set
  if [ -n "${LOCK:-}" ]; then
    exec {lockfd}>"$LOCK"; flock "$lockfd"; "$@"; flock -u "$lockfd"; exec {lockfd}>&-
  else
    "$@"
  fi
}
for i in $(seq "$RUNS"); do
  locked ceiling
  for s in $SERVERS; do
    locked visit "$s"
  done
done
echo "TLS loopback ceiling (no FTP server; rustls sender, thinftp-bench receiver; medians of ${#CM[@]}): \
$(med "${CM[@]:-}") MB/s from memory, $(med "${CF[@]:-}") MB/s from the 1 GiB file, sender $(medf2 "${CC[@]:-}") CPU s/GiB from the file"
echo
printf '| server | RETR 1 GiB MB/s (curl) | RETR / STOR 1 GiB MB/s (thinftp-bench) | server CPU s/GiB, RETR (curl) / STOR (bench) | TLS logins/s | LIST 10k over PROT P, ms |\n|---|---:|---:|---:|---:|---:|\n'
for s in $SERVERS; do
  # shellcheck disable=SC2086 # the lists are space-separated on purpose
  printf '| %s | %s | %s / %s | %s / %s | %s | %s |\n' "$s" "$(med ${R[$s]:-})" "$(med ${BR[$s]:-})" "$(med ${BS[$s]:-})" \
    "$(medf2 ${CR[$s]:-})" "$(medf2 ${CS[$s]:-})" "$(med ${L[$s]:-})" "$(medf ${D[$s]:-})"
done
