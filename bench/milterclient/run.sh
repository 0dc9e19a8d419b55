#!/usr/bin/env bash
# bench/milterclient/run.sh: sluice's milter client and Postfix, each
# driving the same libmilter C milter (bench/milter/addheader.c), measured
# in one invocation so the figures can be put side by side.
#
#   postfix:  smtp-source --SMTP--> private Postfix --milter--> addheader
#                                        +--SMTP--> smtp-sink (counts)
#   client:   BenchmarkClient (Go) --milter--> addheader
#   none:     smtp-source --> Postfix without a milter --> smtp-sink
#
# Postfix opens one milter connection per SMTP session and smtp-source
# sends one message per session, so the client runs with conn=per-message
# (one milter connection per message) too. The postfix rows measure the
# whole MTA (smtpd, cleanup, queue manager, delivery) with the milter in
# the path; the client rows measure the milter protocol alone. Both report
# the C milter's CPU time per message, which is comparable. Needs root (the
# Postfix master runs as root), postfix (postfix, smtp-source, smtp-sink),
# libmilter-dev, a C compiler and Go. See bench/README.md.
#
# Environment (defaults in brackets):
#   SESSIONS      concurrencies (smtp-source -s, client sessions)     ["1 50"]
#   SIZES         body sizes in bytes (smtp-source -l)                ["1024 1048576"]
#   MESSAGES      messages per run for bodies up to 64 KiB            [1000]
#   BIG_MESSAGES  messages per run for larger bodies                  [300]
#   SOCKETS       milter sockets, any of: unix inet                   ["unix inet"]
#   DRIVERS       any of: none postfix client                         ["none postfix client"]
#   REPEAT        rounds; each measures every combination once        [1]
#   WARMUP        unmeasured messages through Postfix before its runs [100]
#   RUN_TIMEOUT   seconds allowed for one run                         [600]
#   IN_FLOW_DELAY Postfix in_flow_delay                               [0]
#   SINK_USER     user the smtp-sinks drop to                         [nobody]
#   KEEP          1: keep the temporary directory and its logs        [0]
#
# The table goes to stdout, progress to stderr. Exit status 0 when every
# run completed and every check passed; 1 otherwise.

set -eEuo pipefail
export LC_ALL=C

SESSIONS=${SESSIONS:-"1 50"}
SIZES=${SIZES:-"1024 1048576"}
MESSAGES=${MESSAGES:-1000}
BIG_MESSAGES=${BIG_MESSAGES:-300}
SOCKETS=${SOCKETS:-"unix inet"}
DRIVERS=${DRIVERS:-"none postfix client"}
REPEAT=${REPEAT:-1}
WARMUP=${WARMUP:-100}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
IN_FLOW_DELAY=${IN_FLOW_DELAY:-0}
SINK_USER=${SINK_USER:-nobody}
KEEP=${KEEP:-0}

LOOPBACK=127.0.0.1
HEADER="X-Filtered-By: sluice"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

TMP=""
PF_ETC=""
PF_QUEUE=""
PF_UP=0
MILTER_PID=""
MILTER_ADDR="" # as Postfix spells it
SINK_PID=""
VSINK_PID=""
CLK_TCK=100

# shellcheck source=../milter/lib.sh
. "$ROOT/bench/milter/lib.sh"

on_exit() {
	local rc=$? f
	set +e
	trap - ERR
	if [ "$rc" -ne 0 ] && [ -n "$TMP" ]; then
		for f in maillog postfix.log milter.log source.log client.log sink.err; do
			[ -s "$TMP/$f" ] || continue
			log "--- last lines of $f ---"
			tail -n 15 "$TMP/$f" >&2
		done
	fi
	pf_stop
	stop_pid "$MILTER_PID"
	stop_pid "$SINK_PID"
	stop_pid "$VSINK_PID"
	if [ -n "$TMP" ]; then
		if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}

number_list() { # NAME VALUE: positive integers only
	local x
	for x in $2; do
		case "$x" in '' | *[!0-9]* | 0) die "$1 must be positive numbers, got '$x'" ;; esac
	done
}

check_setup() {
	local t x
	[ "$(id -u)" = 0 ] || die "run as root: the Postfix master process must run as root"
	for t in postfix postconf smtp-source smtp-sink cc go ss timeout getconf; do
		command -v "$t" >/dev/null || die "missing tool: $t (Debian: apt-get install postfix libmilter-dev gcc)"
	done
	id "$SINK_USER" >/dev/null 2>&1 || die "no user $SINK_USER for smtp-sink (set SINK_USER)"
	number_list SESSIONS "$SESSIONS"
	number_list SIZES "$SIZES"
	number_list "MESSAGES, BIG_MESSAGES, REPEAT and RUN_TIMEOUT" "$MESSAGES $BIG_MESSAGES $REPEAT $RUN_TIMEOUT"
	case "$WARMUP" in '' | *[!0-9]*) die "WARMUP must be a number" ;; esac
	for x in $SOCKETS; do
		case "$x" in unix | inet) ;; *) die "unknown socket '$x' in SOCKETS (want unix, inet)" ;; esac
	done
	for x in $DRIVERS; do
		case "$x" in none | postfix | client) ;; *) die "unknown driver '$x' in DRIVERS (want none, postfix, client)" ;; esac
	done
}

# messages_for SIZE: how many messages a run sends.
messages_for() { if [ "$1" -gt 65536 ]; then echo "$BIG_MESSAGES"; else echo "$MESSAGES"; fi; }

build() {
	log "building addheader.c and the benchmark binary"
	cc -O2 -o "$TMP/addheader" "$ROOT/bench/milter/addheader.c" -lmilter -pthread ||
		die "cannot build addheader.c (apt-get install libmilter-dev)"
	(cd "$ROOT" && go test -c -o "$TMP/mcbench.test" ./bench/milterclient) ||
		die "cannot build the benchmark (go test -c ./bench/milterclient)"
}

# start_cmilter SOCKET: the C milter, readable by Postfix's smtpd.
start_cmilter() {
	local spec ready
	if [ "$1" = unix ]; then
		rm -f "$TMP/addheader.sock"
		spec="unix:$TMP/addheader.sock"
		MILTER_ADDR=$spec
		ready=(test -S "$TMP/addheader.sock")
	else
		free_port
		spec="inet:$PORT@$LOOPBACK"
		MILTER_ADDR="inet:$LOOPBACK:$PORT"
		ready=(listening "$PORT")
	fi
	(umask 000 && exec "$TMP/addheader" "$spec") >>"$TMP/milter.log" 2>&1 &
	MILTER_PID=$!
	wait_for "addheader ($spec)" "$MILTER_PID" "${ready[@]}"
}

stop_cmilter() {
	stop_pid "$MILTER_PID"
	MILTER_PID=""
	MILTER_ADDR=""
}

# milter_ticks: CPU clock ticks (user + system, all threads) the C milter
# has used; "-" without one.
milter_ticks() {
	local st
	if [ -z "$MILTER_PID" ]; then echo -; return; fi
	st=$(cat "/proc/$MILTER_PID/stat") || die "the C milter (PID $MILTER_PID) has exited"
	st=${st##*) }
	echo "$st" | awk '{ print $12 + $13 }'
}

# source_run SESSIONS COUNT SIZE RCPT: smtp-source into Postfix, bounded.
source_run() {
	echo "== smtp-source -s $1 -m $2 -l $3 -t $4" >>"$TMP/source.log"
	timeout "$RUN_TIMEOUT" smtp-source -4 -s "$1" -m "$2" -l "$3" -f from@test -t "$4" \
		"$LOOPBACK:$SMTPD_PORT" >>"$TMP/source.log" 2>&1 ||
		die "smtp-source -s $1 -m $2 -l $3 failed or timed out"
}

# check_delivery DRIVER SOCKET: one message through Postfix to the dumping
# sink; it must carry the milter's header exactly when there is a milter.
check_delivery() {
	local rcpt="check-$1-$2-$RANDOM@check" f="" i
	source_run 1 1 1024 "$rcpt"
	for i in $(seq 300); do
		f=$(grep -l "^X-Rcpt-Args: <$rcpt>" "$TMP"/dump/* 2>/dev/null | head -n 1) || true
		[ -z "$f" ] || break
		sleep 0.1
	done
	[ -n "$f" ] || die "$1: the check message to $rcpt was not delivered within 30 s"
	if awk -v h="$HEADER" '{ sub(/\r$/, "") } $0 == "" { exit } $0 == h { ok = 1 } END { exit !ok }' "$f"; then
		[ "$1" = postfix ] || die "no milter, yet the delivered message carries $HEADER"
	else
		[ "$1" != postfix ] || die "the message Postfix delivered lacks '$HEADER'"
	fi
}

# row DRIVER SOCKET SIZE SESSIONS MESSAGES SECONDS MILTER_US CLIENT_US ALLOCS
row() {
	awk -v d="$1" -v k="$2" -v z="$3" -v s="$4" -v n="$5" -v t="$6" -v m="$7" -v c="$8" -v a="$9" 'BEGIN {
		printf "%-8s %-6s %8d %8d %8d %8.2f %9.1f %9s %9s %7s\n", d, k, z, s, n, t, n / t, m, c, a }' |
		tee -a "$TMP/results" >&2
}

# postfix_runs DRIVER SOCKET SIZE: Postfix with the C milter (postfix) or
# without a milter (none): a delivery check, a warm-up, then one timed run
# per concurrency, from the start of smtp-source until the counting sink
# has every message.
postfix_runs() {
	local driver=$1 socket=$2 size=$3 m n base c0 c1 t0 t1 max=0
	m=$(messages_for "$size")
	for n in $SESSIONS; do [ "$n" -gt "$max" ] && max=$n; done
	log "== $driver, socket $socket, size $size"
	[ "$driver" = none ] || start_cmilter "$socket"
	pf_start "$MILTER_ADDR"
	check_delivery "$driver" "$socket"
	if [ "$WARMUP" -gt 0 ]; then
		base=$(sink_count)
		source_run "$max" "$WARMUP" "$size" to@test
		wait_count $((base + WARMUP))
		wait_queue_empty
	fi
	for n in $SESSIONS; do
		base=$(sink_count)
		c0=$(milter_ticks)
		t0=$EPOCHREALTIME
		source_run "$n" "$m" "$size" to@test
		wait_count $((base + m))
		t1=$EPOCHREALTIME
		c1=$(milter_ticks)
		wait_queue_empty
		row "$driver" "$socket" "$size" "$n" "$m" \
			"$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
			"$(awk -v a="$c0" -v b="$c1" -v hz="$CLK_TCK" -v m="$m" \
				'BEGIN { if (a == "-") print "-"; else printf "%.0f", (b - a) * 1e6 / hz / m }')" - -
	done
	pf_stop
	stop_cmilter
}

# client_runs SOCKET SIZE: BenchmarkClient driving the same C milter
# binary, one milter connection per message, each concurrency once.
client_runs() {
	local socket=$1 size=$2 m pattern out rows
	m=$(messages_for "$size")
	pattern="^BenchmarkClient\$/^target=libmilter\$/^socket=$socket\$/^conn=per-message\$"
	log "== client, socket $socket, size $size"
	out="$TMP/client.out"
	echo "== $pattern size=$size benchtime=${m}x" >>"$TMP/client.log"
	(cd "$HERE" && SLUICE_BENCH_ADDHEADER="$TMP/addheader" SLUICE_BENCH_SESSIONS="$SESSIONS" \
		SLUICE_BENCH_SIZES="$size" timeout "$RUN_TIMEOUT" "$TMP/mcbench.test" -test.run '^$' \
		-test.bench "$pattern" -test.benchtime "${m}x" -test.benchmem) >"$out" 2>&1 ||
		{ cat "$out" >>"$TMP/client.log"; die "the client benchmark failed"; }
	cat "$out" >>"$TMP/client.log"
	# sessions msgs/s milter-cpu-us/msg client-cpu-us/msg allocs/op
	rows=$(awk '/^BenchmarkClient\// {
		match($1, /sessions=[0-9]+/); s = substr($1, RSTART + 9, RLENGTH - 9)
		for (i = 2; i < NF; i++) v[$(i + 1)] = $i
		printf "%s %s %.0f %.0f %s\n", s, v["msgs/s"], v["milter-cpu-us/msg"], v["client-cpu-us/msg"], v["allocs/op"]
	}' "$out")
	[ "$(echo "$rows" | grep -c .)" -eq "$(echo $SESSIONS | wc -w)" ] ||
		die "unexpected benchmark output (see client.log)"
	echo "$rows" | while read -r s rate mcpu ccpu allocs; do
		row client "$socket" "$size" "$s" "$m" "$(awk -v m="$m" -v r="$rate" 'BEGIN { print m / r }')" \
			"$mcpu" "$ccpu" "$allocs"
	done
}

report() {
	echo
	echo "# $(nproc) CPUs, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)," \
		"Postfix $(postconf -dh mail_version 2>/dev/null), $(go version | cut -d' ' -f3)"
	echo "# SESSIONS=\"$SESSIONS\" SIZES=\"$SIZES\" MESSAGES=$MESSAGES BIG_MESSAGES=$BIG_MESSAGES REPEAT=$REPEAT"
	echo "# none, postfix: smtp-source -s SESSIONS -m MESSAGES -l SIZE -f from@test -t to@test 127.0.0.1:PORT,"
	echo "#   timed until smtp-sink has every message (postfix: smtpd_milters = the C milter on SOCKET)"
	echo "# client: mcbench.test -test.bench '^BenchmarkClient\$/^target=libmilter\$/^socket=SOCKET\$/^conn=per-message\$'"
	echo "#   -test.benchtime MESSAGESx -test.benchmem, SLUICE_BENCH_SESSIONS=SESSIONS SLUICE_BENCH_SIZES=SIZE"
	echo "# milter_us: CPU of the C milter per message; client_us: CPU of the client process per message"
	printf '%-8s %-6s %8s %8s %8s %8s %9s %9s %9s %7s\n' \
		driver socket size sessions messages seconds msgs/s milter_us client_us allocs
	awk -v order="$DRIVERS" -v socks="- $SOCKETS" '
		BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i
			n = split(socks, k, " "); for (i = 1; i <= n; i++) srank[k[i]] = i }
		{ printf "%d %d %d %d %d\t%s\n", $3, srank[$2], $4, rank[$1], NR, $0 }' "$TMP/results" |
		sort -k1,1n -k2,2n -k3,3n -k4,4n -k5,5n | cut -f2-
	echo
	echo "# best of $REPEAT runs: client/postfix msgs/s (higher: the client drives the C milter faster than"
	echo "# Postfix does), postfix/none (what the milter costs Postfix), C milter CPU us/msg under each driver"
	awk '
		{ k = $1 " " $2 " " $3 " " $4
		  if ($7 > best[k]) { best[k] = $7; cpu[k] = $8 }
		  if ($1 != "none") pair[$2 " " $3 " " $4] = 1 }
		END {
			for (p in pair) {
				split(p, a, " ")
				c = best["client " p]; f = best["postfix " p]; z = best["none - " a[2] " " a[3]]
				line = sprintf("socket %-4s size %-8s sessions %-3s", a[1], a[2], a[3])
				if (c && f) line = line sprintf("  client/postfix %8.2f", c / f)
				if (f && z) line = line sprintf("  postfix/none %.2f", f / z)
				if (f) line = line sprintf("  milter_us postfix %s", cpu["postfix " p])
				if (c) line = line sprintf("  client %s", cpu["client " p])
				print line
			}
		}' "$TMP/results" | sort -k2,2 -k4,4n -k6,6n
}

main() {
	local r size d s
	check_setup
	trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
	trap on_exit EXIT
	trap 'exit 130' INT TERM
	make_tmp sluice-mcbench
	build
	start_sinks
	free_port
	SMTPD_PORT=$PORT
	for r in $(seq "$REPEAT"); do
		for size in $SIZES; do
			for d in $DRIVERS; do
				case "$d" in
				none) postfix_runs none - "$size" ;;
				postfix) for s in $SOCKETS; do postfix_runs postfix "$s" "$size"; done ;;
				client) for s in $SOCKETS; do client_runs "$s" "$size"; done ;;
				esac
			done
		done
	done
	report
}

main "$@"
