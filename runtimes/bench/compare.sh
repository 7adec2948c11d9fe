#!/usr/bin/env bash
# compare.sh - thinftp-bench against thinftp (both runtimes) and the peers of ../../shared/bench,
# one server at a time, in one run; then a side-by-side table of the medians.
#
#   runtimes/bench/compare.sh [SERVERS...]
#     SERVERS default: thinftp-smol thinftp-std vsftpd pure-ftpd pyftpdlib
#     Env: RUNS=5 (median of)  OUT=/tmp/lab/results/compare-TIMESTAMP
#          ONLY=retr,stor,noop,size,login,list,conc,idle  (tests; default all)
#          IDLE_THINFTP=1000,10000  IDLE_PEERS=1000  (idle session counts)
#          BENCH_ARGS="..." (more thinftp-bench options for every server)
#          IPERF=0 (skip the iperf3 ceiling)
#          BASE_BIN=DIR: also servers base-thinftp-smol and base-thinftp-std, the binaries in DIR
#          (another build, e.g. main's, to compare with this tree's in the same run)
#
# Needs `../../shared/bench/peers.sh setup` done once and a release build:
#   cargo build --release --bin thinftp-smol --bin thinftp-std --bin thinftp-bench
# thinftp serves /tmp/lab/root-thinftp, made here like the peers' roots (hard links to the same
# 1 GiB and 4 MiB files, a directory of 10,000 empty files), with the plain-text user bench:bench
# (the peers use MD5-crypt, ~0.1 ms, so logins measure the protocol on both sides) and the same
# passive range as the peers when each runs alone (30000-30999).
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
LAB=/tmp/lab
PEERS=${PEERS_SH:-$TOP/../shared/bench/peers.sh}
RUNS=${RUNS:-5}
OUT=${OUT:-$LAB/results/compare-$(date +%Y%m%d-%H%M%S)}
ONLY=${ONLY:-retr,stor,noop,size,login,list,conc,idle}
IDLE_THINFTP=${IDLE_THINFTP:-1000,10000}
IDLE_PEERS=${IDLE_PEERS:-1000}
SERVERS=${*:-thinftp-smol thinftp-std vsftpd pure-ftpd pyftpdlib}
BIN=$TOP/target/release
. "$HERE/lib.sh"
BASE_BIN=${BASE_BIN:-}
export PASV_RANGE=30000-30999
declare -A PORT=( [vsftpd]=2110 [pure-ftpd]=2120 [proftpd]=2130 [pyftpdlib]=2140
                  [pyftpdlib-threaded]=2145 [thinftp-smol]=2160 [thinftp-std]=2170
                  [base-thinftp-smol]=2180 [base-thinftp-std]=2190 )
mkdir -p "$OUT" "$LAB/run" "$LAB/logs"

root=$LAB/root-thinftp
mkdir -p "$root/many"
ln -f "$LAB/data/big.bin" "$root/big.bin"
ln -f "$LAB/data/4m.bin" "$root/4m.bin"
if [ "$(ls -f "$root/many" | wc -l)" -lt 10002 ]; then
  (cd "$root/many" && seq -f 'file%05g.dat' 0 9999 | xargs touch)
fi

start_thinftp() {  # $1 = thinftp-smol | thinftp-std | base-thinftp-smol | base-thinftp-std
  local n=$1 port=${PORT[$1]} bin=$BIN/$1
  case $n in base-*) bin=$BASE_BIN/${n#base-} ;; esac
  setsid "$bin" --listen "127.0.0.1:$port" --root "$root" --user bench:bench \
    --max-sessions 20000 --max-sessions-per-ip 20000 --passive-ports "$PASV_RANGE" -q \
    >> "$LAB/logs/$n.log" 2>&1 < /dev/null &
  echo $! > "$LAB/run/$n.pid"
  wait_listening "$port" "$n"
}

stop_thinftp() { stop_pidfile "$LAB/run/$1.pid"; }

"$PEERS" stop all > /dev/null
# The loopback ceiling in the same run: iperf3 single stream, plain and -Z (sendfile sender).
if [ "${IPERF:-1}" = 1 ] && command -v iperf3 > /dev/null; then
  for mode in plain zerocopy; do
    z=(); [ $mode = zerocopy ] && z=(-Z)
    iperf3 -s -B 127.0.0.1 -p 2199 -1 > /dev/null 2>&1 &
    sleep 0.5
    iperf3 -c 127.0.0.1 -p 2199 -t 10 -J "${z[@]}" > "$OUT/iperf3-$mode.json" 2> /dev/null
    wait
  done
fi
for s in $SERVERS; do
  case $s in
    thinftp-*|base-thinftp-*) start_thinftp "$s" || continue; idle=$IDLE_THINFTP ;;
    *) "$PEERS" start "$s" || { echo "$s: did not start, skipped"; continue; }; idle=$IDLE_PEERS ;;
  esac
  sleep 1
  # warm-up: one small download, so that first-run effects are out of the way
  curl -s -o /dev/null -u bench:bench "ftp://127.0.0.1:${PORT[$s]}/4m.bin"
  echo "=== $s $(date -Is)"
  "$BIN/thinftp-bench" --target "127.0.0.1:${PORT[$s]}" --label "$s" --pidfile "$LAB/run/$s.pid" \
    --runs "$RUNS" --only "$ONLY" --idle "$idle" --json "$OUT/$s.json" ${BENCH_ARGS:-} \
    > /dev/null 2> "$OUT/$s.log"
  tail -n 25 "$OUT/$s.log"
  case $s in
    thinftp-*|base-thinftp-*) stop_thinftp "$s" ;;
    *) "$PEERS" stop "$s" > /dev/null ;;
  esac
  sleep 2
done
python3 "$HERE/compare_table.py" "$OUT"/*.json | tee "$OUT/table.md"
echo "results in $OUT"
