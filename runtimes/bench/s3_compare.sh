#!/usr/bin/env bash
# s3_compare.sh - thinftp on an S3 bucket beside rclone on the same bucket, and beside thinftp on
# local disk over the same files, in one interleaved run (issue 12, "Performance"):
#   - RETR and STOR of the big object (thinftp-bench),
#   - LIST/NLST/MLSD of a directory of 10,000 objects (and the first LIST after a start alone),
#   - 200 concurrent sessions, each logging in and downloading the small object,
#   - then the server's memory during one STOR of 1 GiB on S3 (VmRSS sampled every
#     0.1 s from /proc/PID/status, and VmHWM), for each server on S3.
# Each round starts every server in turn, runs the bench once (--runs 1) and stops it, so the
# servers see the same machine load; the table gives the medians over the rounds.
#
#   runtimes/bench/s3_compare.sh [SERVERS...]
#     SERVERS default: thinftp-smol-s3 thinftp-std-s3 proftpd-rclone-s3 thinftp-smol-local
#       thinftp-std-local. Debian's rclone 1.60 is built without `rclone serve ftp` (its
#       `rclone serve` offers dlna, docker, http, restic, sftp and webdav only), so rclone's side
#       is the nearest thing Debian has: rclone's VFS on the bucket mounted (`rclone mount`,
#       FUSE: needs fuse3 and root), served by Debian's proftpd, both on their defaults.
#     Env: RUNS=3 (rounds)  BIG_BYTES=1073741824  CONC=200  CONC_REPEATS=1  LIST_REPS=5
#          LIST_FILES=10000  MEM=1 (0: no memory step)  MEM_BYTES=1073741824 (its STOR)  OUT=/tmp/thinftp-s3cmp-results-TIMESTAMP
#          RCLONE_ARGS="..." (more `rclone mount` options)  REL=target/release
#
# The store is `s3s-fs`, started as runtimes/testsuite/src/s3_server.rs starts it (127.0.0.1,
# a free port, fresh keys, a fresh directory under /tmp), bucket `bench`, key prefix `data/`.
# The big objects are uploaded once through thinftp (thinftp-bench --prepare), so that they have
# the ETag s3s-fs saves on upload (without one it would hash the object on every GET and HEAD).
# thinftp on local disk serves hard links to the very files s3s-fs keeps. rclone is configured
# by environment variables only (remote `s3fs:`, RCLONE_CONFIG_S3FS_*), else on its defaults:
# note that its VFS keeps directory listings for 5 minutes (--dir-cache-time), so only its first
# listing after a start reaches the store ("first after start"); thinftp asks the store every time.
# Needs release builds: cargo build --release --bin thinftp-smol --bin thinftp-std --bin thinftp-bench
# Everything it starts listens on 127.0.0.1 only and is stopped at exit; /tmp/thinftp-s3cmp.* goes.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
. "$HERE/lib.sh"
BIN=${REL:-$TOP/target/release}
RUNS=${RUNS:-3}
BIG_BYTES=${BIG_BYTES:-1073741824}
CONC=${CONC:-200}
CONC_REPEATS=${CONC_REPEATS:-1}
LIST_REPS=${LIST_REPS:-5}
LIST_FILES=${LIST_FILES:-10000}
MEM=${MEM:-1}
MEM_BYTES=${MEM_BYTES:-1073741824}
OUT=${OUT:-/tmp/thinftp-s3cmp-results-$(date +%Y%m%d-%H%M%S)}
SERVERS=${*:-thinftp-smol-s3 thinftp-std-s3 proftpd-rclone-s3 thinftp-smol-local thinftp-std-local}
S3FS=$(command -v s3s-fs || echo "${CARGO_HOME:-$HOME/.cargo}/bin/s3s-fs")
for p in "$S3FS" "$BIN/thinftp-smol" "$BIN/thinftp-std" "$BIN/thinftp-bench"; do
  [ -x "$p" ] || { echo "s3_compare.sh: $p missing (see the header)" >&2; exit 2; }
done
command -v rclone > /dev/null || { echo "s3_compare.sh: rclone missing" >&2; exit 2; }

WORK=$(mktemp -d /tmp/thinftp-s3cmp.XXXXXX)
mkdir -p "$OUT" "$WORK/run" "$WORK/logs" "$WORK/store/bench"

# rclone's VFS on the bucket at $WORK/mnt (owned by nobody, for proftpd's user), served by
# proftpd (the user bench of its own AuthUserFile, as nobody, chrooted to the prefix's
# directory). The whole bucket is mounted, not `bench/data`: rclone first HEADs the key `data`
# to see whether it is a file, and s3s-fs answers 500 (it reads the directory on its disk), which
# rclone retries for minutes.
start_proftpd_on_rclone() {
  local port=$1 c=$WORK/proftpd.conf
  mkdir -p "$WORK/mnt"
  chmod 755 "$WORK"
  # shellcheck disable=SC2086
  setsid env -u AWS_CA_BUNDLE rclone mount "s3fs:$BUCKET" "$WORK/mnt" --allow-other --uid 65534 --gid 65534 \
    --umask 002 ${RCLONE_ARGS:-} >> "$WORK/logs/rclone-mount.log" 2>&1 < /dev/null &
  echo $! > "$WORK/run/rclone-mount.pid"
  for _ in $(seq 1 300); do mountpoint -q "$WORK/mnt" && break; sleep 0.1; done
  mountpoint -q "$WORK/mnt" || { tail -n 20 "$WORK/logs/rclone-mount.log" >&2; return 1; }
  echo "bench:$(openssl passwd -1 bench):65534:65534::$WORK/mnt/$PREFIX:/bin/sh" > "$WORK/ftpd.passwd"
  echo "nogroup:x:65534:" > "$WORK/ftpd.group"
  chmod 600 "$WORK/ftpd.passwd" "$WORK/ftpd.group"
  printf '%s\n' 'ServerName "proftpd on rclone mount"' 'ServerType standalone' \
    'DefaultServer on' 'UseIPv6 off' 'DefaultAddress 127.0.0.1' 'SocketBindTight on' \
    "Port $port" "PassivePorts ${PASV_RANGE%-*} ${PASV_RANGE#*-}" 'MaxInstances 1000' \
    'User nobody' 'Group nogroup' 'Umask 002' "PidFile $WORK/run/proftpd.selfpid" \
    "ScoreboardFile $WORK/proftpd.scoreboard" 'DelayEngine off' 'WtmpLog off' \
    'TransferLog NONE' "SystemLog $WORK/logs/proftpd-system.log" 'UseReverseDNS off' \
    'UseSendfile on' 'AuthOrder mod_auth_file.c' "AuthUserFile $WORK/ftpd.passwd" \
    "AuthGroupFile $WORK/ftpd.group" 'RequireValidShell off' 'AllowOverwrite on' \
    'DefaultRoot ~' > "$c"
  setsid /usr/sbin/proftpd -n -c "$c" >> "$WORK/logs/proftpd.log" 2>&1 < /dev/null &
  echo $! > "$WORK/run/proftpd-rclone-s3.pid"
  wait_listening "$port" proftpd
}

unmount_rclone() {
  if mountpoint -q "$WORK/mnt" 2>/dev/null; then
    fusermount3 -u "$WORK/mnt" 2>/dev/null || fusermount3 -uz "$WORK/mnt"
  fi
  stop_pidfile "$WORK/run/rclone-mount.pid"
}

cleanup() {
  stop_pidfile "$WORK/run/proftpd-rclone-s3.pid"
  unmount_rclone
  for pf in "$WORK"/run/*.pid; do stop_pidfile "$pf"; done
  cp -r "$WORK/logs" "$OUT/" 2>/dev/null
  # Never remove beneath a mount that is still there: that would delete the bucket's objects.
  mountpoint -q "$WORK/mnt" 2>/dev/null || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BUCKET=bench PREFIX=data
S3_PORT=$(free_port)
export AWS_ACCESS_KEY_ID=bench$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
export AWS_SECRET_ACCESS_KEY=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
export AWS_REGION=us-east-1
setsid "$S3FS" --host 127.0.0.1 --port "$S3_PORT" --access-key "$AWS_ACCESS_KEY_ID" \
  --secret-key "$AWS_SECRET_ACCESS_KEY" "$WORK/store" > "$WORK/logs/s3s-fs.log" 2>&1 < /dev/null &
echo $! > "$WORK/run/s3s-fs.pid"
wait_listening "$S3_PORT" s3s-fs || exit 1
ENDPOINT=http://127.0.0.1:$S3_PORT

# rclone's remote `s3fs:` on the same bucket, from the environment only. rclone runs without
# AWS_CA_BUNDLE: its S3 SDK refuses a custom CA bundle on its own HTTP transport (the endpoint
# is plain http anyway).
export RCLONE_CONFIG=$WORK/rclone.conf RCLONE_CACHE_DIR=$WORK/rclone-cache
export RCLONE_CONFIG_S3FS_TYPE=s3 RCLONE_CONFIG_S3FS_PROVIDER=Other
export RCLONE_CONFIG_S3FS_ENDPOINT=$ENDPOINT RCLONE_CONFIG_S3FS_REGION=$AWS_REGION
export RCLONE_CONFIG_S3FS_ACCESS_KEY_ID=$AWS_ACCESS_KEY_ID
export RCLONE_CONFIG_S3FS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY
export RCLONE_CONFIG_S3FS_FORCE_PATH_STYLE=true

# One passive range for whichever server runs (one at a time), away from the usual ones.
PASV_BASE=$((40000 + RANDOM % 20000))
PASV_RANGE=$PASV_BASE-$((PASV_BASE + 999))

start_server() {  # start_server NAME PORT
  local n=$1 port=$2 cmd
  case $n in
    thinftp-*-s3)
      cmd=("$BIN/${n%-s3}" --storage "s3://$BUCKET/$PREFIX" --s3-endpoint "$ENDPOINT"
           --s3-path-style true) ;;
    thinftp-*-local) cmd=("$BIN/${n%-local}" --root "$WORK/local") ;;
    proftpd-rclone-s3) start_proftpd_on_rclone "$port"; return ;;
    *) echo "unknown server $n" >&2; return 1 ;;
  esac
  setsid "${cmd[@]}" --listen "127.0.0.1:$port" --user bench:bench --max-sessions 20000 \
    --max-sessions-per-ip 20000 --passive-ports "$PASV_RANGE" -q \
    >> "$WORK/logs/$n.log" 2>&1 < /dev/null &
  echo $! > "$WORK/run/$n.pid"
  wait_listening "$port" "$n"
}

stop_server() {
  stop_pidfile "$WORK/run/$1.pid"
  [ "$1" = proftpd-rclone-s3 ] && unmount_rclone
  return 0
}

# The process that holds a server's buffers: rclone's for proftpd on the rclone mount.
memory_pid() {
  case $1 in
    proftpd-rclone-s3) cat "$WORK/run/rclone-mount.pid" ;;
    *) cat "$WORK/run/$1.pid" ;;
  esac
}

bench() {  # bench NAME PORT LIST_FILES STOR_BYTES ARGS... : thinftp-bench on the data set
  "$BIN/thinftp-bench" --target "127.0.0.1:$2" --label "$1" --pidfile "$WORK/run/$1.pid" \
    --big-file big.bin --big-size "$BIG_BYTES" --small-file 4m.bin --small-size 4194304 \
    --list-dir many --list-files "$3" --stor-bytes "$4" "${@:5}"
}

# The data set: the big and the small object uploaded through thinftp (so that s3s-fs keeps
# their ETags), the directory `many` made by MKD, its empty objects written straight into
# s3s-fs's directory (10,000 uploads through FTP would each list the prefix, and s3s-fs scans the
# whole bucket for every listing; the ETag of an empty object costs it nothing). Local disk gets
# hard links to all of it.
port=$(free_port)
start_server thinftp-smol-s3 "$port" || exit 1
echo "=== preparing the data set on s3://$BUCKET/$PREFIX ($(date -Is))"
bench thinftp-smol-s3 "$port" 0 "$BIG_BYTES" --prepare --only list --list-reps 1 --runs 1 \
  > /dev/null 2> "$WORK/logs/prepare.log" || { cat "$WORK/logs/prepare.log"; exit 1; }
stop_server thinftp-smol-s3
(cd "$WORK/store/$BUCKET/$PREFIX/many" && seq -f 'file%05g.dat' 0 $((LIST_FILES - 1)) | xargs touch)
cp -al "$WORK/store/$BUCKET/$PREFIX" "$WORK/local"

for round in $(seq 1 "$RUNS"); do
  for s in $SERVERS; do
    port=$(free_port)
    start_server "$s" "$port" || { echo "$s: did not start, skipped"; stop_server "$s"; continue; }
    sleep 1
    # warm-up: one small download, so that first-run effects are out of the way
    curl -s -o /dev/null -u bench:bench "ftp://127.0.0.1:$port/4m.bin"
    echo "=== round $round/$RUNS: $s ($(date -Is), load $(cut -d' ' -f1-3 /proc/loadavg))"
    # The first listing after the start (rclone's directory cache is cold), then the rest.
    bench "$s" "$port" "$LIST_FILES" "$BIG_BYTES" --runs 1 --only list --list-reps 1 --json "$OUT/$s.first$round.json" \
      > /dev/null 2>&1
    bench "$s" "$port" "$LIST_FILES" "$BIG_BYTES" --runs 1 --only retr,stor,list,conc --conc "$CONC" \
      --conc-repeats "$CONC_REPEATS" --list-reps "$LIST_REPS" \
      --json "$OUT/$s.round$round.json" > /dev/null 2> "$OUT/$s.round$round.log"
    grep -E '^\[thinftp-bench\] [a-z_0-9]+: ' "$OUT/$s.round$round.log"
    stop_server "$s"
    sleep 2
  done
done

# Memory of one STOR of the big object on S3, per server: VmRSS every 0.1 s, VmHWM at the end.
if [ "$MEM" = 1 ]; then
  for s in $SERVERS; do
    case $s in *-s3) ;; *) continue ;; esac
    port=$(free_port)
    start_server "$s" "$port" || { stop_server "$s"; continue; }
    sleep 1
    pid=$(memory_pid "$s")
    rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null; }
    before=$(rss)
    (while kill -0 "$pid" 2>/dev/null; do rss; sleep 0.1; done) > "$WORK/rss.$s" &
    sampler=$!
    bench "$s" "$port" "$LIST_FILES" "$MEM_BYTES" --runs 1 --only stor \
      --json "$OUT/$s.mem-stor.json" > /dev/null 2>&1
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
    kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
    peak=$(sort -n "$WORK/rss.$s" | tail -n 1)
    echo "{\"label\": \"$s\", \"rss_before_kib\": ${before:-0}, \"rss_peak_kib\": ${peak:-0}, \"hwm_kib\": ${hwm:-0}, \"samples\": $(wc -l < "$WORK/rss.$s")}" \
      > "$OUT/$s.mem.json"
    stop_server "$s"
  done
fi

python3 "$HERE/s3_compare_table.py" "$OUT" | tee "$OUT/table.md"
echo "results in $OUT"
