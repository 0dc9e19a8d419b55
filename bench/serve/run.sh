#!/usr/bin/env bash
# bench/serve/run.sh: throughput of `sluice serve` as a front-end, side by
# side with Postfix doing the same job on the same machine in the same run.
#
#   postfix: smtp-source --SMTP--> private Postfix      --SMTP--> smtp-sink
#   sluice:  smtp-source --SMTP--> sluice serve (queue) --SMTP--> smtp-sink
#
# Both accept each message into a durable queue (fsync before the 250
# reply: sluice always, Postfix by default) and relay it to the same
# counting smtp-sink. sluice runs the filter set FILTERS names (below), no
# milters, downstream TLS off and no XCLIENT/XFORWARD (smtp-sink does not
# offer them); Postfix runs without a milter or restriction beyond its
# defaults, whatever FILTERS says. For every size and concurrency, each
# system gets MESSAGES messages from smtp-source; a run is timed from the
# start of smtp-source until the sink has counted the last of them. Everything runs on
# 127.0.0.1 under a temporary directory; /etc/postfix and the system's
# Postfix are not touched. Needs root (the Postfix master runs as root),
# postfix (postfix, smtp-source, smtp-sink) and Go. See bench/README.md.
#
# Environment (defaults in brackets):
#   SIZES         body bytes per message, smtp-source -l             ["1024 102400"]
#   SESSIONS      concurrencies, smtp-source -s                      ["1 10 50"]
#   MESSAGES      messages per run for bodies up to 64 KiB           [2000]
#   BIG_MESSAGES  messages per run for larger bodies                 [$MESSAGES]
#   SYSTEMS       any of: postfix sluice                             ["postfix sluice"]
#   FILTERS       sluice's filters: default or typical               [default]
#                   default: no [filters] table, so the built-in default
#                     set: the headers filter adding "X-Filtered-By: sluice"
#                   typical: the built-in filters that need no DNS, as an
#                     operator would run them: ratelimit (limits never
#                     reached, loopback not exempt), access (rules that
#                     match nothing sent), greylist (loopback not exempt;
#                     each triplet is passed once before use), headers, and
#                     dkim signing every message with an RSA 2048 key for
#                     the sender's domain "test" (made with openssl)
#   REPEAT        rounds; each measures every combination once       [1]
#   WARMUP        unmeasured messages into each system at the start  [200]
#   RUN_TIMEOUT   seconds allowed for one run                        [300]
#   IN_FLOW_DELAY Postfix in_flow_delay                              [0]
#   SINK_USER     user the smtp-sinks drop to                        [nobody]
#   KEEP          1: keep the temporary directory and its logs       [0]
#   TMPDIR        where the temporary directory (both queues) lives  [/tmp]
#
# The table goes to stdout, progress to stderr. Exit status 0 when every
# run completed and every check passed; 1 otherwise (log tails are printed).

set -eEuo pipefail
export LC_ALL=C # $EPOCHREALTIME and awk must agree on the decimal point

SIZES=${SIZES:-"1024 102400"}
SESSIONS=${SESSIONS:-"1 10 50"}
MESSAGES=${MESSAGES:-2000}
BIG_MESSAGES=${BIG_MESSAGES:-$MESSAGES}
SYSTEMS=${SYSTEMS:-"postfix sluice"}
FILTERS=${FILTERS:-default}
REPEAT=${REPEAT:-1}
WARMUP=${WARMUP:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
IN_FLOW_DELAY=${IN_FLOW_DELAY:-0}
SINK_USER=${SINK_USER:-nobody}
KEEP=${KEEP:-0}

HEADER="X-Filtered-By: sluice"
GREYLIST_DELAY=1 # seconds, [filters.greylist] delay with FILTERS=typical
LOOPBACK=127.0.0.1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

TMP=""         # temporary directory, removed on exit unless KEEP=1
PF_ETC=""      # private Postfix config_directory
PF_QUEUE=""    # private Postfix queue_directory
PF_UP=0        # 1 while our Postfix instance runs
SLUICE_PID=""  # sluice serve
SLUICE_PORT="" # its listener
SINK_PID=""    # the counting smtp-sink
VSINK_PID=""   # the dumping smtp-sink used for the header check
CLK_TCK=100    # clock ticks per second, for /proc

# shellcheck source=../milter/lib.sh
. "$ROOT/bench/milter/lib.sh"

on_exit() {
	local rc=$? f
	set +e
	trap - ERR
	if [ "$rc" -ne 0 ] && [ -n "$TMP" ]; then
		for f in postfix.log maillog sluice.log source.log sink.err vsink.err; do
			[ -s "$TMP/$f" ] || continue
			log "--- last lines of $f ---"
			tail -n 15 "$TMP/$f" >&2
		done
	fi
	pf_stop
	stop_pid "$SLUICE_PID"
	stop_pid "$SINK_PID"
	stop_pid "$VSINK_PID"
	if [ -n "$TMP" ]; then
		if [ "$KEEP" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
	fi
	exit "$rc"
}

check_setup() {
	local t s
	[ "$(id -u)" = 0 ] || die "run as root: the Postfix master process must run as root"
	for t in postfix postconf smtp-source smtp-sink go ss timeout getconf awk; do
		command -v "$t" >/dev/null || die "missing tool: $t (Debian: apt-get install postfix iproute2)"
	done
	id "$SINK_USER" >/dev/null 2>&1 || die "no user $SINK_USER for smtp-sink (set SINK_USER)"
	case "$MESSAGES $BIG_MESSAGES $REPEAT $WARMUP $RUN_TIMEOUT $SIZES $SESSIONS" in
	*[!0-9\ ]*) die "SIZES, SESSIONS, MESSAGES, BIG_MESSAGES, REPEAT, WARMUP and RUN_TIMEOUT must be numbers" ;;
	esac
	[ "$MESSAGES" -gt 0 ] && [ "$BIG_MESSAGES" -gt 0 ] && [ "$REPEAT" -gt 0 ] && [ "$RUN_TIMEOUT" -gt 0 ] ||
		die "MESSAGES, BIG_MESSAGES, REPEAT and RUN_TIMEOUT must be at least 1"
	for s in $SESSIONS $SIZES; do
		[ "$s" -gt 0 ] || die "SESSIONS and SIZES must be positive"
	done
	for s in $SYSTEMS; do
		case "$s" in postfix | sluice) ;; *) die "unknown system '$s' in SYSTEMS (want postfix, sluice)" ;; esac
	done
	[ -n "$SYSTEMS" ] || die "SYSTEMS is empty"
	case "$FILTERS" in
	default) ;;
	typical) command -v openssl >/dev/null || die "missing tool: openssl, for FILTERS=typical's DKIM key" ;;
	*) die "unknown FILTERS '$FILTERS' (want default, typical)" ;;
	esac
}

# messages_for SIZE: messages per run for that body size.
messages_for() {
	if [ "$1" -gt 65536 ]; then echo "$BIG_MESSAGES"; else echo "$MESSAGES"; fi
}

# --- sluice -------------------------------------------------------------------

# sluice_config FILE DOWNSTREAM_PORT: listens on SLUICE_PORT, queues under
# TMP, relays to the sink, with the filters of FILTERS (filters_config).
# The connection limits are raised: every client is 127.0.0.1, and Postfix
# exempts $mynetworks from its per-client limits
# (smtpd_client_event_limit_exceptions) the same way.
sluice_config() {
	cat >"$1" <<CONF
# written by bench/serve/run.sh
hostname = "bench.localhost"
data_dir = "$TMP/sluice-data"

[smtp]
listen = ["$LOOPBACK:$SLUICE_PORT"]
max_connections = 1000
max_connections_per_ip = 1000

[queue]
dir = "$TMP/sluice-queue"

[downstream]
address = "smtp://$LOOPBACK:$2"
tls = "none"
xclient = false
xforward = false
CONF
	filters_config >>"$1"
}

# filters_config: the [filters] tables of FILTERS on stdout. default: none,
# so the default set (headers, adding X-Filtered-By: sluice) applies.
# typical: every built-in filter that needs no DNS, in the configuration an
# operator would run, tuned only so that the benchmark's mail
# (from@test, to@test and verify-serve@check, from 127.0.0.1) passes:
#   - ratelimit: limits far above what a run sends in a window; loopback is
#     not exempt, so every connection, MAIL and RCPT is counted;
#   - access: a rule per stage, none of which matches;
#   - greylist: loopback not whitelisted and no auto-whitelisting, so every
#     RCPT looks its triplet up; greylist_prime passes each triplet once
#     before it is used, and the state file (under data_dir) is saved;
#   - headers: the same X-Filtered-By field as the default;
#   - dkim: every message from 127.0.0.0/8 whose From is @test is signed
#     (rsa-sha256, relaxed/relaxed) with the 2048-bit key of dkim_key; a
#     signed message is not verified, so no DNS lookup is made.
filters_config() {
	[ "$FILTERS" = typical ] || return 0
	cat <<CONF

[filters.ratelimit]
connections = 10000000
messages = 10000000
recipients = 10000000
window = "1m"
exempt_networks = []

[filters.access]
rules = [
  { client = "192.0.2.0/24", action = "reject" },
  { helo = ".spam.example", action = "reject", reply = "550 5.7.1 Bad HELO" },
  { sender = "@spam.example", action = "reject" },
  { sender = "/^bounce-[0-9]+@/", action = "quarantine", reason = "bulk" },
  { recipient = "abuse@example.com", action = "accept" },
  { recipient = ".invalid", action = "reject" },
]

[filters.greylist]
delay = "${GREYLIST_DELAY}s"
auto_whitelist_count = 0
whitelist_networks = []

[filters.headers]
add = ["$HEADER"]

[filters.dkim]
verify = true
sign_networks = ["127.0.0.0/8"]
keys = [{ domain = "test", selector = "bench", key_file = "$TMP/dkim.pem" }]
CONF
}

# dkim_key: FILTERS=typical's RSA 2048 signing key, readable by root only.
dkim_key() {
	[ "$FILTERS" = typical ] || return 0
	(umask 077 && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$TMP/dkim.pem" 2>>"$TMP/openssl.log") || die "openssl could not make the DKIM key"
}

# greylist_prime RCPT: with FILTERS=typical, one attempt from from@test to
# RCPT (refused: the triplet is new), then, after the greylist delay, one
# that must pass; later messages to RCPT pass at once.
greylist_prime() {
	[ "$FILTERS" = typical ] || return 0
	echo "== sluice: greylist priming for $1 (the first attempt is refused)" >>"$TMP/source.log"
	timeout "$RUN_TIMEOUT" smtp-source -4 -m 1 -f from@test -t "$1" "$LOOPBACK:$SLUICE_PORT" \
		>>"$TMP/source.log" 2>&1 && die "sluice: the greylist did not refuse a new triplet (to $1)"
	sleep "$GREYLIST_DELAY.5"
}

# sluice_start DOWNSTREAM_PORT
sluice_start() {
	sluice_config "$TMP/sluice.toml" "$1"
	echo "== sluice serve, downstream port $1" >>"$TMP/sluice.log"
	(cd "$TMP" && exec "$TMP/sluice" serve --config "$TMP/sluice.toml") >>"$TMP/sluice.log" 2>&1 &
	SLUICE_PID=$!
	wait_for "sluice serve" "$SLUICE_PID" listening "$SLUICE_PORT"
}

sluice_stop() {
	stop_pid "$SLUICE_PID"
	SLUICE_PID=""
}

# sluice_queued: messages still in sluice's spool.
sluice_queued() {
	find "$TMP/sluice-queue/q" -name '*.json' 2>/dev/null | wc -l
}

# sluice_wait_empty: the spool drains (30 s at most) and nothing was
# bounced into it.
sluice_wait_empty() {
	local i
	for i in $(seq 300); do
		[ "$(sluice_queued)" -eq 0 ] && return 0
		sleep 0.1
	done
	die "sluice's queue still holds $(sluice_queued) messages"
}

# --- runs ---------------------------------------------------------------------

port_of() {
	case "$1" in postfix) echo "$SMTPD_PORT" ;; sluice) echo "$SLUICE_PORT" ;; esac
}

# send SYSTEM SESSIONS COUNT SIZE RCPT: smtp-source into SYSTEM, bounded by
# RUN_TIMEOUT. smtp-source gives up on any reply that is not 2xx/3xx.
send() {
	echo "== $1: smtp-source -s $2 -m $3 -l $4 -t $5" >>"$TMP/source.log"
	timeout "$RUN_TIMEOUT" smtp-source -4 -s "$2" -m "$3" -l "$4" \
		-f from@test -t "$5" "$LOOPBACK:$(port_of "$1")" >>"$TMP/source.log" 2>&1 ||
		die "$1: smtp-source -s $2 -m $3 -l $4 failed or timed out: a message was refused"
}

settle() {
	case "$1" in postfix) wait_queue_empty ;; sluice) sluice_wait_empty ;; esac
}

# cpu_busy: busy clock ticks of the whole machine so far (all CPUs, from
# /proc/stat: user nice system irq softirq steal).
cpu_busy() {
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# server_pid SYSTEM: the process whose tree is the server: Postfix's
# master (every Postfix daemon is its child), or sluice itself.
server_pid() {
	case "$1" in
	postfix) tr -dc '0-9' <"$PF_QUEUE/pid/master.pid" ;;
	sluice) echo "$SLUICE_PID" ;;
	esac
}

# tree_ticks PID: CPU clock ticks (user + system) used so far by PID and
# its children, counting the children that exited and were reaped (cutime,
# cstime): a sum that only grows while processes come and go.
tree_ticks() {
	# cat fails when a process exits between the glob and the read.
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
		{
			pid = $1
			sub(/^.*\) /, "") # after the command name: $2 ppid, $12-$15 times
			if (pid == root || $2 == root) t += $12 + $13 + $14 + $15
		}
		END { print t + 0 }'
}

# measure SYSTEM SIZE SESSIONS: one timed run; appends a row to results:
# system size sessions messages seconds msgs/s server-CPU-us/msg
# machine-CPU-us/msg.
measure() {
	local n base t0 t1 c0 c1 s0 s1 root
	n=$(messages_for "$2")
	root=$(server_pid "$1")
	[ -n "$root" ] || die "$1: no server process"
	base=$(sink_count)
	s0=$(tree_ticks "$root")
	c0=$(cpu_busy)
	t0=$EPOCHREALTIME
	send "$1" "$3" "$n" "$2" to@test
	wait_count $((base + n))
	t1=$EPOCHREALTIME
	c1=$(cpu_busy)
	s1=$(tree_ticks "$root")
	settle "$1"
	awk -v s="$1" -v z="$2" -v k="$3" -v n="$n" -v t0="$t0" -v t1="$t1" \
		-v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" -v hz="$CLK_TCK" '
		BEGIN {
			d = t1 - t0
			printf "%-8s %7d %8d %9d %8.2f %8.1f %8.0f %8.0f\n", s, z, k, n, d, n / d,
				(s1 - s0) * 1e6 / hz / n, (c1 - c0) * 1e6 / hz / n
		}' | tee -a "$TMP/results" >&2
}

# warmup SYSTEM: WARMUP messages at the highest concurrency, not timed.
warmup() {
	local s max=0 base
	[ "$WARMUP" -gt 0 ] || return 0
	for s in $SESSIONS; do [ "$s" -gt "$max" ] && max=$s; done
	base=$(sink_count)
	send "$1" "$max" "$WARMUP" 1024 to@test
	wait_count $((base + WARMUP))
	settle "$1"
}

# check_sluice_header: one message through a sluice relaying to the dumping
# sink (same configuration but the downstream port); the delivered copy
# must carry the header and sluice's Received in its header section.
check_sluice_header() {
	local rcpt="verify-serve@check" f="" i sig
	sluice_start "$VSINK_PORT"
	greylist_prime "$rcpt"
	send sluice 1 1 1024 "$rcpt"
	for i in $(seq 300); do
		f=$(grep -l "^X-Rcpt-Args: <$rcpt>" "$TMP"/dump/* 2>/dev/null | head -n 1) || true
		[ -n "$f" ] && break
		sleep 0.1
	done
	[ -n "$f" ] || die "sluice: the check message to $rcpt was not delivered within 30 s"
	sluice_wait_empty
	sluice_stop
	awk -v h="$HEADER" '{ sub(/\r$/, "") } $0 == "" { exit } $0 == h { found = 1 }
		END { exit !found }' "$f" || die "sluice: the delivered message lacks '$HEADER' ($f)"
	grep -q "^	by bench.localhost (sluice) with E\?SMTP id " "$f" ||
		die "sluice: the delivered message lacks sluice's Received header ($f)"
	log "sluice: the message the sink received carries '$HEADER' and sluice's Received header"
	if [ "$FILTERS" = typical ]; then
		# The fields of the header section unfolded, one a line; the
		# signature's tags may come in any order.
		sig=$(awk '{ sub(/\r$/, "") } $0 == "" { exit }
			/^[ \t]/ { f = f $0; next } { if (f != "") print f; f = $0 } END { print f }' "$f" |
			grep '^DKIM-Signature:') || true
		case "$sig" in *[\ \;]d=test\;*) ;; *) sig="" ;; esac
		case "$sig" in *[\ \;]s=bench\;*) ;; *) sig="" ;; esac
		[ -n "$sig" ] ||
			die "sluice: FILTERS=typical but the delivered message has no DKIM-Signature of d=test, s=bench ($f)"
		log "sluice: and a DKIM-Signature of d=test, s=bench"
	fi
	log "--- header section of the message the sink dumped ---"
	sed -n '1,/^\r\{0,1\}$/p' "$f" | tr -d '\r' >&2
}

# --- report -------------------------------------------------------------------

# filters_summary: what FILTERS runs, for the output's header.
filters_summary() {
	case "$FILTERS" in
	default) echo "headers (the default set, no [filters] table)" ;;
	typical) echo "ratelimit access greylist headers dkim (signing each message, RSA 2048)" ;;
	esac
}

# report: every run, then per size and concurrency the best of each system
# (highest msgs/s, lowest server CPU per message) and the ratios.
report() {
	echo
	echo "# $(nproc) CPUs, Postfix $(postconf -dh mail_version 2>/dev/null), $(go version | cut -d' ' -f3); load average at the end:$(cut -d' ' -f1-3 /proc/loadavg | sed 's/^/ /')"
	echo "# sluice FILTERS=$FILTERS: $(filters_summary)"
	echo "# SIZES=\"$SIZES\" SESSIONS=\"$SESSIONS\" MESSAGES=$MESSAGES BIG_MESSAGES=$BIG_MESSAGES REPEAT=$REPEAT WARMUP=$WARMUP IN_FLOW_DELAY=$IN_FLOW_DELAY"
	echo "# each run: smtp-source -s SESSIONS -m MESSAGES -l SIZE -f from@test -t to@test 127.0.0.1:PORT"
	echo "# srv_us, all_us: CPU time per message of the server (sluice; Postfix's master and every"
	echo "#   daemon it started) and of the whole machine (every process: smtp-source, the sink, others)"
	printf '%-8s %7s %8s %9s %8s %8s %8s %8s\n' system size sessions messages seconds msgs/s srv_us all_us
	cat "$TMP/results"
	echo
	echo "# best of $REPEAT per point; ratio = sluice msgs/s / postfix msgs/s; cpu ratio = sluice srv_us / postfix srv_us"
	printf '%7s %8s %13s %12s %7s %10s %10s %9s\n' size sessions postfix_msg/s sluice_msg/s ratio postfix_us sluice_us cpu_ratio
	awk '
		function num(v, f) { return v == "" ? "-" : sprintf(f, v) }
		{
			k = $2 " " $3; sk = $1 " " k
			if ($6 > rate[sk]) rate[sk] = $6
			if (!(sk in cpu) || $7 < cpu[sk]) cpu[sk] = $7
			if (!(k in seen)) { seen[k] = 1; order[++n] = k }
		}
		END {
			for (i = 1; i <= n; i++) {
				k = order[i]; split(k, a, " ")
				p = rate["postfix " k]; s = rate["sluice " k]; pc = cpu["postfix " k]; sc = cpu["sluice " k]
				r = p && s ? sprintf("%.2f", s / p) : "-"
				cr = (pc > 0 && sc != "") ? sprintf("%.2f", sc / pc) : "-"
				printf("%7d %8d %13s %12s %7s %10s %10s %9s\n", a[1], a[2], num(p, "%.1f"), num(s, "%.1f"),
					r, num(pc, "%.0f"), num(sc, "%.0f"), cr)
			}
		}' "$TMP/results"
}

# --- main ---------------------------------------------------------------------

setup() {
	make_tmp sluice-serve-bench
	mkdir -p "$TMP/sluice-data"
	dkim_key
	(cd "$ROOT" && go build -o "$TMP/sluice" ./cmd/sluice) || die "cannot build ./cmd/sluice"
	start_sinks
	free_port
	SMTPD_PORT=$PORT
	free_port
	SLUICE_PORT=$PORT
}

main() {
	local r z n sys order
	check_setup
	# Name any command that stops the script through set -e.
	trap 'log "error: \"$BASH_COMMAND\" failed (line $LINENO)"' ERR
	trap on_exit EXIT
	trap 'exit 130' INT TERM
	setup
	log "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
	log "sluice FILTERS=$FILTERS: $(filters_summary)"
	case " $SYSTEMS " in *" sluice "*)
		check_sluice_header
		sluice_start "$SINK_PORT"
		greylist_prime to@test
		warmup sluice
		;;
	esac
	case " $SYSTEMS " in *" postfix "*)
		pf_start ""
		warmup postfix
		;;
	esac
	log "system     size sessions  messages  seconds   msgs/s   srv_us   all_us"
	# Both systems stay up for the whole run; they take turns, and the
	# order flips every round so drifting load spreads over both.
	order=$SYSTEMS
	for r in $(seq "$REPEAT"); do
		for z in $SIZES; do
			for n in $SESSIONS; do
				for sys in $order; do measure "$sys" "$z" "$n"; done
			done
		done
		order=$(echo "$order" | awk '{ for (i = NF; i > 0; i--) printf("%s%s", $i, (i > 1 ? " " : "\n")) }')
	done
	report
}

main "$@"
