#!/usr/bin/env bash
# bench/milter/run.sh: throughput of Postfix with sluice as its milter, side
# by side with a C libmilter milter doing the same work (addheader.c) and
# with no milter at all.
#
#   smtp-source --SMTP--> private Postfix --milter--> sluice | addheader | none
#                              |
#                              +--SMTP--> smtp-sink (counts messages)
#
# For every milter, milter socket type and concurrency it sends MESSAGES
# messages with smtp-source and measures the wall time from the start of
# smtp-source until smtp-sink has received the last of them. Everything runs
# on 127.0.0.1 in a private Postfix instance under a temporary directory;
# /etc/postfix and the system's Postfix are not touched. Needs root (the
# Postfix master runs as root), postfix (postfix, smtp-source, smtp-sink),
# libmilter-dev, a C compiler and Go. See bench/README.md.
#
# Environment (defaults in brackets):
#   SESSIONS      concurrencies, smtp-source -s                  ["10 50"]
#   MESSAGES      messages per measured run, smtp-source -m      [2000]
#   SIZE          body bytes per message, smtp-source -l         [1024]
#   MILTERS       any of: none c sluice                          ["none c sluice"]
#   SOCKETS       milter sockets, any of: inet unix              ["inet unix"]
#   REPEAT        rounds; each round measures every combination [1]
#   WARMUP        unmeasured messages before each milter's runs  [200]
#   RUN_TIMEOUT   seconds allowed for one run                    [300]
#   IN_FLOW_DELAY Postfix in_flow_delay                          [0]
#   SINK_USER     user the smtp-sinks drop to                    [nobody]
#   KEEP          1: keep the temporary directory and its logs   [0]
#
# The table goes to stdout, progress to stderr. Exit status 0 when every
# run completed and every header check passed; 1 otherwise (log tails are
# printed).

set -eEuo pipefail
export LC_ALL=C # $EPOCHREALTIME and awk must agree on the decimal point

SESSIONS=${SESSIONS:-"10 50"}
MESSAGES=${MESSAGES:-2000}
SIZE=${SIZE:-1024}
MILTERS=${MILTERS:-"none c sluice"}
SOCKETS=${SOCKETS:-"inet unix"}
REPEAT=${REPEAT:-1}
WARMUP=${WARMUP:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
IN_FLOW_DELAY=${IN_FLOW_DELAY:-0}
SINK_USER=${SINK_USER:-nobody}
KEEP=${KEEP:-0}

HEADER_NAME="X-Filtered-By"
HEADER_VALUE="sluice"
LOOPBACK=127.0.0.1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

TMP=""        # temporary directory, removed on exit unless KEEP=1
PF_ETC=""     # private Postfix config_directory
PF_QUEUE=""   # private Postfix queue_directory
PF_UP=0       # 1 while our Postfix instance runs
MILTER_PID="" # the milter under test, if any
SINK_PID=""   # the counting smtp-sink
VSINK_PID=""  # the dumping smtp-sink used for the header check
CLK_TCK=100   # clock ticks per second, for /proc/PID/stat

# shellcheck source=lib.sh
. "$HERE/lib.sh"

show_logs() {
	local f
	for f in postfix.log maillog milter.log source.log sink.err vsink.err; do
		[ -s "$TMP/$f" ] || continue
		log "--- last lines of $f ---"
		tail -n 15 "$TMP/$f" >&2
	done
}

cleanup() {
	local rc=$?
	set +e
	trap - ERR
	[ "$rc" -eq 0 ] || [ -z "$TMP" ] || show_logs
	pf_stop
	stop_pid "$MILTER_PID"
	stop_pid "$SINK_PID"
	stop_pid "$VSINK_PID"
	if [ -n "$TMP" ]; then
		if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}

check_setup() {
	local t m s
	[ "$(id -u)" = 0 ] || die "run as root: the Postfix master process must run as root"
	for t in postfix postconf smtp-source smtp-sink cc go ss timeout getconf; do
		command -v "$t" >/dev/null || die "missing tool: $t (Debian: apt-get install postfix libmilter-dev gcc)"
	done
	id "$SINK_USER" >/dev/null 2>&1 || die "no user $SINK_USER for smtp-sink (set SINK_USER)"
	case "$MESSAGES $REPEAT $WARMUP $SIZE $RUN_TIMEOUT" in
	*[!0-9\ ]*) die "MESSAGES, REPEAT, WARMUP, SIZE and RUN_TIMEOUT must be numbers" ;;
	esac
	[ "$MESSAGES" -gt 0 ] && [ "$REPEAT" -gt 0 ] && [ "$RUN_TIMEOUT" -gt 0 ] ||
		die "MESSAGES, REPEAT and RUN_TIMEOUT must be at least 1"
	for s in $SESSIONS; do
		case "$s" in '' | *[!0-9]* | 0) die "SESSIONS must be positive numbers, got '$s'" ;; esac
	done
	for m in $MILTERS; do
		case "$m" in none | c | sluice) ;; *) die "unknown milter '$m' in MILTERS (want none, c, sluice)" ;; esac
	done
	for s in $SOCKETS; do
		case "$s" in inet | unix) ;; *) die "unknown socket '$s' in SOCKETS (want inet, unix)" ;; esac
	done
}

build() {
	case " $MILTERS " in *" c "*)
		cc -O2 -o "$TMP/addheader" "$HERE/addheader.c" -lmilter -pthread ||
			die "cannot build addheader.c (is libmilter-dev installed?)"
		;;
	esac
	case " $MILTERS " in *" sluice "*)
		(cd "$ROOT" && go build -o "$TMP/sluice" ./cmd/sluice) || die "cannot build ./cmd/sluice"
		;;
	esac
}

# start_milter NAME SOCKET: starts the milter and sets MILTER_ADDR, its
# address in Postfix syntax (empty for none). umask 000 lets smtpd, running
# as user postfix, connect to a unix socket made by a root process.
start_milter() {
	local spec ready
	MILTER_ADDR=""
	[ "$1" = none ] && return 0
	if [ "$2" = unix ]; then
		rm -f "$TMP/$1.sock"
		spec="unix:$TMP/$1.sock"
		MILTER_ADDR=$spec
		ready=(test -S "$TMP/$1.sock")
	else
		free_port
		spec="inet:$PORT@$LOOPBACK"
		MILTER_ADDR="inet:$LOOPBACK:$PORT"
		ready=(listening "$PORT")
	fi
	case "$1" in
	c)
		(umask 000 && exec "$TMP/addheader" "$spec") >>"$TMP/milter.log" 2>&1 &
		;;
	sluice)
		mkdir -p "$TMP/sluice-data"
		cat >"$TMP/sluice.toml" <<CONF
hostname = "bench.localhost"
data_dir = "$TMP/sluice-data"

[milter_server]
listen = "$spec"

[filters.headers]
add = ["$HEADER_NAME: $HEADER_VALUE"]
CONF
		(cd "$TMP" && umask 000 && exec "$TMP/sluice" milter --config "$TMP/sluice.toml") \
			>>"$TMP/milter.log" 2>&1 &
		;;
	esac
	MILTER_PID=$!
	wait_for "milter $1 ($spec)" "$MILTER_PID" "${ready[@]}"
}

stop_milter() {
	stop_pid "$MILTER_PID"
	MILTER_PID=""
}

# send SESSIONS COUNT RCPT: smtp-source into Postfix, bounded by RUN_TIMEOUT.
# smtp-source gives up on any reply that is not 2xx/3xx, so a milter that
# fails (milter_default_action = tempfail) fails the run.
send() {
	echo "== smtp-source -s $1 -m $2 -t $3" >>"$TMP/source.log"
	timeout "$RUN_TIMEOUT" smtp-source -4 -s "$1" -m "$2" -l "$SIZE" \
		-f from@test -t "$3" "$LOOPBACK:$SMTPD_PORT" >>"$TMP/source.log" 2>&1 ||
		die "smtp-source -s $1 -m $2 failed or timed out: Postfix or the milter refused mail"
}

# cpu_ticks: user+system CPU clock ticks used so far by the milter process
# (all its threads, including exited ones); empty without a milter.
cpu_ticks() {
	local st
	[ -n "$MILTER_PID" ] || return 0
	st=$(cat "/proc/$MILTER_PID/stat" 2>/dev/null) || die "the milter (PID $MILTER_PID) has exited"
	# Fields after the ")" that closes the command name: 12 utime, 13 stime.
	echo "${st##*) }" | awk '{ print $12 + $13 }'
}

# measure MILTER SOCKET SESSIONS: one timed run; appends a row to results:
# milter socket sessions messages seconds msgs/s milter-CPU-us/msg.
measure() {
	local base t0 t1 c0 c1
	base=$(sink_count)
	c0=$(cpu_ticks)
	t0=$EPOCHREALTIME
	send "$3" "$MESSAGES" to@test
	wait_count $((base + MESSAGES))
	t1=$EPOCHREALTIME
	c1=$(cpu_ticks)
	wait_queue_empty
	awk -v m="$1" -v k="$2" -v s="$3" -v n="$MESSAGES" -v t0="$t0" -v t1="$t1" \
		-v c0="$c0" -v c1="$c1" -v hz="$CLK_TCK" '
		BEGIN {
			d = t1 - t0
			cpu = c0 == "" ? "-" : sprintf("%.0f", (c1 - c0) * 1e6 / hz / n)
			printf "%-7s %-6s %8d %9d %8.2f %8.1f %10s\n", m, k, s, n, d, n / d, cpu
		}' | tee -a "$TMP/results" >&2
}

# verify_header MILTER SOCKET ROUND: one message to the dumping sink. With a
# milter the delivered copy must carry the header in its header block;
# without one it must not.
verify_header() {
	local rcpt="verify-$1-$2-$3@check" i f=""
	send 1 1 "$rcpt"
	for i in $(seq 300); do
		grep -q "to=<$rcpt>.*status=sent" "$TMP/maillog" 2>/dev/null && break
		sleep 0.1
	done
	f=$(grep -l "^X-Rcpt-Args: <$rcpt>" "$TMP"/dump/* 2>/dev/null | head -n 1) || true
	[ -n "$f" ] || die "milter $1: the check message to $rcpt was not delivered within 30 s"
	if awk -v h="$HEADER_NAME: $HEADER_VALUE" \
		'{ sub(/\r$/, "") } $0 == "" { exit } $0 == h { found = 1 } END { exit !found }' "$f"; then
		[ "$1" != none ] || die "no milter, yet the delivered message carries $HEADER_NAME"
		log "milter $1 ($2): the delivered message carries '$HEADER_NAME: $HEADER_VALUE'"
	else
		[ "$1" = none ] || die "milter $1 ($2): the delivered message lacks '$HEADER_NAME: $HEADER_VALUE'"
		log "no milter: the delivered message has no $HEADER_NAME header, as expected"
	fi
}

# bench_milter NAME SOCKET ROUND: start it, check it, warm up, then one
# timed run per concurrency.
bench_milter() {
	local n base max=0
	for n in $SESSIONS; do [ "$n" -gt "$max" ] && max=$n; done
	log "== round $3: milter $1, socket $2"
	start_milter "$1" "$2"
	pf_start "$MILTER_ADDR"
	verify_header "$1" "$2" "$3"
	if [ "$WARMUP" -gt 0 ]; then
		base=$(sink_count)
		send "$max" "$WARMUP" to@test
		wait_count $((base + WARMUP))
		wait_queue_empty
	fi
	for n in $SESSIONS; do measure "$1" "$2" "$n"; done
	pf_stop
	stop_milter
}

# report: the table, then per socket and concurrency the best of each
# milter's runs, relative to the C milter and to no milter.
report() {
	echo
	echo "# $(nproc) CPUs, Postfix $(postconf -dh mail_version 2>/dev/null), $(go version | cut -d' ' -f3)"
	echo "# SESSIONS=\"$SESSIONS\" MESSAGES=$MESSAGES SIZE=$SIZE REPEAT=$REPEAT IN_FLOW_DELAY=$IN_FLOW_DELAY"
	echo "# each run: smtp-source -s SESSIONS -m $MESSAGES -l $SIZE -f from@test -t to@test 127.0.0.1:PORT"
	echo "# cpu_us/msg: CPU time of the milter process per message (clock tick $((1000000 / CLK_TCK)) us)"
	printf '%-7s %-6s %8s %9s %8s %8s %10s\n' milter socket sessions messages seconds msgs/s cpu_us/msg
	# Group the rows by milter (in MILTERS order), socket and sessions;
	# within a group they stay in the order they ran.
	awk -v order="$MILTERS" -v socks="$SOCKETS" '
		BEGIN { n = split(order, o, " "); for (i = 1; i <= n; i++) rank[o[i]] = i
			n = split(socks, k, " "); for (i = 1; i <= n; i++) srank[k[i]] = i }
		{ printf "%d %d %d %d\t%s\n", rank[$1], srank[$2], $3, NR, $0 }' "$TMP/results" |
		sort -k1,1n -k2,2n -k3,3n -k4,4n | cut -f2-
	echo
	echo "# best of $REPEAT: throughput ratios (higher = faster) and milter CPU per message ratio (lower = cheaper)"
	awk '
		{
			k = $1 " " $2 " " $3
			if ($6 > rate[k]) rate[k] = $6
			if ($7 != "-" && (!(k in cpu) || $7 < cpu[k])) cpu[k] = $7
			if ($2 != "-") pair[$2 " " $3] = 1
		}
		END {
			for (p in pair) {
				split(p, a, " ")
				c = rate["c " p]; s = rate["sluice " p]; b = rate["none - " a[2]]
				line = sprintf("socket %-5s sessions %-4s", a[1], a[2])
				if (s && c) line = line sprintf("  sluice/c %.2f", s / c)
				if (c && b) line = line sprintf("  c/none %.2f", c / b)
				if (s && b) line = line sprintf("  sluice/none %.2f", s / b)
				if (cpu["sluice " p] != "" && cpu["c " p] > 0)
					line = line sprintf("  cpu sluice/c %.2f", cpu["sluice " p] / cpu["c " p])
				print line
			}
		}' "$TMP/results" | sort -k2,2 -k4,4n
}

main() {
	local m s r
	check_setup
	# Name any command that stops the script through set -e.
	trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	make_tmp sluice-bench
	build
	start_sinks
	free_port
	SMTPD_PORT=$PORT
	# Rounds interleave the milters, so drifting load on the machine
	# spreads over all of them instead of hitting the last one.
	for r in $(seq "$REPEAT"); do
		for m in $MILTERS; do
			if [ "$m" = none ]; then
				bench_milter none - "$r"
				continue
			fi
			for s in $SOCKETS; do bench_milter "$m" "$s" "$r"; done
		done
	done
	report
}

main "$@"
