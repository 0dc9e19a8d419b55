# bench/milter/lib.sh: helpers for run.sh (sourced, not run): processes,
# loopback ports, the two smtp-sinks and the private Postfix instance.
#
# Uses the globals set by run.sh: TMP, PF_ETC, PF_QUEUE, LOOPBACK, SINK_USER,
# IN_FLOW_DELAY, RUN_TIMEOUT. Sets SINK_PORT, VSINK_PORT, SMTPD_PORT, PORT,
# SINK_PID, VSINK_PID, PF_UP.

log() { printf '%s\n' "$*" >&2; }

die() {
	log "error: $*"
	exit 1
}

# stop_pid PID: TERM, wait up to 5 s, then KILL. Only for PIDs we started.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
}

listening() { [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]; }

# wait_for WHAT PID CMD...: until CMD succeeds, 20 s at most; fails early
# when PID (if not empty) has exited.
wait_for() {
	local what=$1 pid=$2 i
	shift 2
	for i in $(seq 200); do
		"$@" && return 0
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			die "$what exited before it was ready"
		fi
		sleep 0.1
	done
	die "$what not ready after 20 s"
}

# free_port: sets PORT to a loopback TCP port nobody listens on and that was
# not handed out before. Not for use in $(...): USED_PORTS must stick.
USED_PORTS=" "
free_port() {
	local i p
	for i in $(seq 200); do
		p=$((20000 + RANDOM % 30000))
		case "$USED_PORTS" in *" $p "*) continue ;; esac
		if ! listening "$p"; then
			USED_PORTS="$USED_PORTS$p "
			PORT=$p
			return 0
		fi
	done
	die "no free loopback port found"
}

# make_tmp PREFIX: the run's temporary directory (TMP, readable by the
# postfix user), the private Postfix's directories (PF_ETC, PF_QUEUE), an
# empty results file and CLK_TCK for the CPU columns.
make_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	chmod 755 "$TMP"
	PF_ETC="$TMP/postfix-etc"
	PF_QUEUE="$TMP/postfix-queue"
	mkdir -p "$PF_ETC" "$PF_QUEUE" "$TMP/postfix-data"
	chown postfix "$TMP/postfix-data"
	: >"$TMP/results"
	CLK_TCK=$(getconf CLK_TCK)
}

# --- sinks ------------------------------------------------------------------

# start_sinks: the counting sink (relayhost; -c writes running counters to
# sink.out) and the dumping sink (domain "check"; one file per message).
start_sinks() {
	free_port
	SINK_PORT=$PORT
	free_port
	VSINK_PORT=$PORT
	mkdir -p "$TMP/dump"
	chmod 777 "$TMP/dump"
	smtp-sink -4 -u "$SINK_USER" -c -m 1024 "$LOOPBACK:$SINK_PORT" 1024 \
		>"$TMP/sink.out" 2>"$TMP/sink.err" &
	SINK_PID=$!
	smtp-sink -4 -u "$SINK_USER" -d "$TMP/dump/%H%M%S." "$LOOPBACK:$VSINK_PORT" 64 \
		>/dev/null 2>"$TMP/vsink.err" &
	VSINK_PID=$!
	wait_for smtp-sink "$SINK_PID" listening "$SINK_PORT"
	wait_for "smtp-sink (dump)" "$VSINK_PID" listening "$VSINK_PORT"
}

# sink_count: messages the counting sink has received so far.
sink_count() {
	local raw n
	raw=$(tail -c 200 "$TMP/sink.out") || die "cannot read the sink's counters"
	n=$(echo "$raw" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9][0-9]*\).*/\1/p' | tail -n 1)
	echo "${n:-0}"
}

# wait_count TARGET: until the sink has TARGET messages, RUN_TIMEOUT at most.
wait_count() {
	local deadline=$((EPOCHSECONDS + RUN_TIMEOUT))
	while [ "$(sink_count)" -lt "$1" ]; do
		[ "$EPOCHSECONDS" -lt "$deadline" ] ||
			die "the sink has $(sink_count) of $1 messages after $RUN_TIMEOUT s"
		sleep 0.02
	done
}

# --- private Postfix --------------------------------------------------------

# pf_config MILTER: main.cf and master.cf of the private instance; MILTER is
# a Postfix milter address (inet:host:port, unix:/path) or empty.
pf_config() {
	cat >"$PF_ETC/main.cf" <<CONF
# private benchmark instance written by bench/milter/run.sh
compatibility_level = 3.6
queue_directory = $PF_QUEUE
data_directory = $TMP/postfix-data
mail_owner = postfix
maillog_file = $TMP/maillog
maillog_file_prefixes = $TMP
myhostname = bench.localhost
mydomain = localhost
myorigin = \$myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
biff = no
inet_interfaces = $LOOPBACK
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [$LOOPBACK]:$SINK_PORT
transport_maps = inline:{check=smtp:[$LOOPBACK]:$VSINK_PORT}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
in_flow_delay = $IN_FLOW_DELAY
smtpd_milters = $1
milter_default_action = tempfail
milter_protocol = 6
CONF
	# No chroot (5th column n); smtpd on loopback only.
	cat >"$PF_ETC/master.cf" <<CONF
$LOOPBACK:$SMTPD_PORT inet n - n - - smtpd
pickup    unix       n - n 60    1 pickup
cleanup   unix       n - n -     0 cleanup
qmgr      unix       n - n 300   1 qmgr
rewrite   unix       - - n -     - trivial-rewrite
bounce    unix       - - n -     0 bounce
defer     unix       - - n -     0 bounce
trace     unix       - - n -     0 bounce
verify    unix       - - n -     1 verify
flush     unix       n - n 1000? 0 flush
proxymap  unix       - - n -     - proxymap
smtp      unix       - - n -     - smtp
relay     unix       - - n -     - smtp
showq     unix       n - n -     - showq
error     unix       - - n -     - error
retry     unix       - - n -     - error
discard   unix       - - n -     - discard
anvil     unix       - - n -     1 anvil
scache    unix       - - n -     1 scache
postlog   unix-dgram n - n -     1 postlogd
CONF
}

pf_start() {
	pf_config "$1"
	postfix -c "$PF_ETC" start >>"$TMP/postfix.log" 2>&1 || die "postfix start failed"
	PF_UP=1
	wait_for "Postfix smtpd" "" listening "$SMTPD_PORT"
}

# pf_stop: postfix stop, then wait (10 s at most) for our master to exit.
pf_stop() {
	local pid i
	[ "${PF_UP:-0}" = 1 ] || return 0
	pid=$(tr -dc '0-9' <"$PF_QUEUE/pid/master.pid" 2>/dev/null) || true
	postfix -c "$PF_ETC" stop >>"$TMP/postfix.log" 2>&1 || true
	PF_UP=0
	[ -n "$pid" ] || return 0
	for i in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "warning: Postfix master $pid still running after 10 s; killing it"
	kill -9 "$pid" 2>/dev/null || true
}

# queue_files: messages still in the Postfix queue.
queue_files() {
	find "$PF_QUEUE/maildrop" "$PF_QUEUE/incoming" "$PF_QUEUE/active" \
		"$PF_QUEUE/deferred" "$PF_QUEUE/hold" -type f 2>/dev/null | wc -l
}

# wait_queue_empty: the queue drains (30 s at most) and nothing was deferred
# or bounced.
wait_queue_empty() {
	local i
	for i in $(seq 300); do
		[ "$(queue_files)" -eq 0 ] && break
		sleep 0.1
	done
	[ "$(queue_files)" -eq 0 ] || die "the Postfix queue still holds $(queue_files) messages"
	if grep -q 'status=\(deferred\|bounced\)' "$TMP/maillog" 2>/dev/null; then
		die "Postfix deferred or bounced mail (see maillog)"
	fi
}
