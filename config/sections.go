package config

import (
	"fmt"
	"log/slog"
	"strings"
)

func readHostname(r *reader) string {
	h := r.str("hostname")
	if r.ok("hostname") && !isDomain(h) {
		r.fail("hostname", "bad host name %q", h)
	}
	return h
}

func readLogLevel(r *reader) slog.Level {
	s := r.enum("log_level", "log level", "debug", "info", "warn", "error")
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo
	}
	return lvl
}

func readSMTP(r *reader) SMTP {
	s := SMTP{
		Listen:              r.strs("smtp.listen"),
		RelayDomains:        r.strs("smtp.relay_domains"),
		TrustedNetworks:     r.prefixes("smtp.trusted_networks"),
		XClientHosts:        r.prefixes("smtp.xclient_hosts"),
		XForwardHosts:       r.prefixes("smtp.xforward_hosts"),
		MaxMessageSize:      r.size("smtp.max_message_size"),
		MaxRecipients:       r.positive("smtp.max_recipients"),
		MaxConnections:      r.positive("smtp.max_connections"),
		MaxConnectionsPerIP: r.positive("smtp.max_connections_per_ip"),
		BareLF:              r.enum("smtp.bare_lf", "policy", BareLFReject, BareLFNormalize),
		TLS: SMTPTLS{
			CertFile: r.str("smtp.tls.cert_file"),
			KeyFile:  r.str("smtp.tls.key_file"),
		},
		Auth:               SMTPAuth{UsersFile: r.str("smtp.auth.users_file")},
		CommandTimeout:     r.positiveDuration("smtp.command_timeout"),
		DataTimeout:        r.positiveDuration("smtp.data_timeout"),
		ConnectionTimeout:  r.positiveDuration("smtp.connection_timeout"),
		ShutdownTimeout:    r.duration("smtp.shutdown_timeout"),
		ResolveClientNames: r.boolean("smtp.resolve_client_names"),
		DNSTimeout:         r.positiveDuration("smtp.dns_timeout"),
		ProxyNetworks:      r.prefixes("smtp.proxy_networks"),
		VerifyRecipients:   r.boolean("smtp.verify_recipients"),
		VerifyCacheTTL:     r.positiveDuration("smtp.verify_cache_ttl"),
		VerifyNegativeTTL:  r.positiveDuration("smtp.verify_negative_ttl"),
		VerifyTimeout:      r.positiveDuration("smtp.verify_timeout"),
		VerifyOnError:      r.enum("smtp.verify_on_error", "action", VerifyOnErrorTempfail, VerifyOnErrorAccept),
	}
	if len(s.Listen) == 0 && r.ok("smtp.listen") {
		r.fail("smtp.listen", "must list at least one host:port")
	}
	for i, a := range s.Listen {
		if err := checkHostPort(a); err != nil {
			r.fail(fmt.Sprintf("smtp.listen[%d]", i), "%v", err)
		}
	}
	for i, d := range s.RelayDomains {
		if !isDomain(strings.TrimPrefix(d, ".")) {
			r.fail(fmt.Sprintf("smtp.relay_domains[%d]", i), "bad domain %q", d)
		}
	}
	if s.MaxMessageSize <= 0 && r.ok("smtp.max_message_size") {
		r.fail("smtp.max_message_size", "must be > 0")
	}
	if (s.TLS.CertFile == "") != (s.TLS.KeyFile == "") {
		r.fail("smtp.tls", "cert_file and key_file go together: set both or neither")
	}
	return s
}

// checkVerify refuses recipient verification without a downstream to
// ask: a maildir has nobody to answer RCPT.
func checkVerify(r *reader, s SMTP, d Downstream) {
	if s.VerifyRecipients && d.Target.Kind == "maildir" && r.ok("smtp.verify_recipients") && r.ok("downstream.address") {
		r.fail("smtp.verify_recipients", "needs an smtp or lmtp downstream; downstream.address %q is a maildir", d.Address)
	}
}

func readQueue(r *reader, dataDir string) Queue {
	q := Queue{
		Dir:           resolveDir(r.str("queue.dir"), dataDir, "spool"),
		Retry:         r.durations("queue.retry"),
		MaxAge:        r.positiveDuration("queue.max_age"),
		LogMaxMessage: r.size("queue.log_max_message"),
		SegmentSize:   r.size("queue.segment_size"),
	}
	if len(q.Retry) == 0 && r.ok("queue.retry") {
		r.fail("queue.retry", "must list at least one delay")
	}
	if q.LogMaxMessage > 64<<20 && r.ok("queue.log_max_message") {
		r.fail("queue.log_max_message", "must be at most 64MiB (bodies up to this size are held in memory), got %d", q.LogMaxMessage)
	}
	if q.SegmentSize < 64<<10 && r.ok("queue.segment_size") {
		r.fail("queue.segment_size", "must be at least 64KiB, got %d", q.SegmentSize)
	}
	return q
}

func readDownstream(r *reader) Downstream {
	d := Downstream{
		Address:  r.str("downstream.address"),
		TLS:      r.enum("downstream.tls", "TLS policy", "none", "opportunistic", "required", "verify"),
		XClient:  r.boolean("downstream.xclient"),
		XForward: r.boolean("downstream.xforward"),
	}
	if r.ok("downstream.address") {
		t, err := ParseTarget(d.Address)
		if err != nil {
			r.fail("downstream.address", "%v", err)
		}
		d.Target = t
	}
	return d
}

func readMilterServer(r *reader) MilterServer {
	return MilterServer{
		Listen:           r.socket("milter_server.listen"),
		MaxConnections:   r.positive("milter_server.max_connections"),
		ReadTimeout:      r.positiveDuration("milter_server.read_timeout"),
		WriteTimeout:     r.positiveDuration("milter_server.write_timeout"),
		ShutdownTimeout:  r.duration("milter_server.shutdown_timeout"),
		FailureAction:    r.enum("milter_server.failure_action", "action", "tempfail", "reject", "accept"),
		ProgressInterval: r.positiveDuration("milter_server.progress_interval"),
		MaxPacket:        r.size("milter_server.max_packet"),
	}
}

func readMetrics(r *reader) Metrics {
	m := Metrics{Listen: r.str("metrics.listen")}
	if m.Listen != "" {
		if err := checkHostPort(m.Listen); err != nil {
			r.fail("metrics.listen", "%v", err)
		}
	}
	return m
}

// readMilters reads the [[milters]] array from the file.
func (l *loader) readMilters() []Milter {
	list, _ := l.raw["milters"].([]any)
	out := make([]Milter, 0, len(list))
	seen := map[string]int{}
	for i, e := range list {
		m, ok := e.(map[string]any)
		if !ok {
			continue // checkKeys reported it
		}
		r := l.fileReader(fmt.Sprintf("milters[%d]", i), m, milterDefaults())
		ml := readMilter(r)
		if j, dup := seen[ml.Name]; dup && ml.Name != "" {
			r.fail("name", "duplicate name %q (also milters[%d])", ml.Name, j)
		}
		seen[ml.Name] = i
		out = append(out, ml)
	}
	return out
}

func readMilter(r *reader) Milter {
	m := Milter{
		Name:           strings.TrimSpace(r.str("name")),
		DefaultAction:  r.enum("default_action", "action", "accept", "tempfail", "reject", "quarantine", "shutdown"),
		ConnectTimeout: r.positiveDuration("connect_timeout"),
		CommandTimeout: r.positiveDuration("command_timeout"),
		EOMTimeout:     r.positiveDuration("eom_timeout"),
		MaxIdleConns:   r.nonNegative("max_idle_conns"),
		IdleTimeout:    r.positiveDuration("idle_timeout"),
	}
	if r.get("address") == nil {
		r.fail("address", "missing (want unix:/path, inet:port@host or inet6:port@host)")
		return m
	}
	m.Address = r.socket("address")
	if m.Address.Network != "unix" && m.Address.Network != "" &&
		(m.Address.Port() == 0 || strings.HasPrefix(m.Address.Address, ":")) {
		r.fail("address", "%q: want a host and a non-zero port to dial", m.Address.Spec)
	}
	if m.Name == "" {
		m.Name = m.Address.Spec
	}
	return m
}
