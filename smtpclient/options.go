package smtpclient

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/tls"
)

// Options configure a Client. Only Address is required; every other zero
// value has the default its comment names.
type Options struct {
	// Address of the downstream: "smtp://host:port", "lmtp://host:port" or
	// "lmtp+unix:/path". The port defaults to 25 (smtp) and 24 (lmtp).
	Address string

	// TLS is the STARTTLS policy; default tls.PolicyOpportunistic.
	TLS tls.Policy
	// TLSServerName is the name the downstream's certificate must carry
	// under tls.PolicyVerify, and the SNI sent; default the host of Address.
	TLSServerName string
	// TLSRoots are the roots tls.PolicyVerify trusts; nil: the system's.
	TLSRoots *x509.CertPool

	// Auth, when set, authenticates to the downstream after STARTTLS.
	Auth *Auth

	// XClient sends the original client's identity with XCLIENT when the
	// downstream advertises it; XForward sends it with XFORWARD when the
	// downstream advertises that and XCLIENT was not used.
	XClient  bool
	XForward bool

	// HeloName is the name in EHLO/LHLO; default the host name of this
	// machine, or "localhost".
	HeloName string

	// Timeouts bound each step; see Timeouts for the defaults.
	Timeouts Timeouts

	// MaxConnections bounds the connections open at once (busy and idle);
	// Deliver waits for one to be free. Default 10.
	MaxConnections int
	// MaxMessagesPerConn ends a connection after that many transactions;
	// default 100.
	MaxMessagesPerConn int
	// IdleTimeout closes a connection left unused that long; default 30s.
	// A negative value turns connection reuse off.
	IdleTimeout time.Duration

	// Dialer opens connections; default a net.Dialer.
	Dialer Dialer
	// Logger receives warnings and, at debug level, one line per recipient
	// result; default slog.Default().
	Logger *slog.Logger
	// Trace logs every command and reply at debug level, AUTH exchanges
	// redacted.
	Trace bool
}

// Auth is the account used with AUTH PLAIN or LOGIN (go-sasl).
type Auth struct {
	Username string
	Password string
	// Mechanism forces "PLAIN" or "LOGIN"; default PLAIN when offered,
	// else LOGIN.
	Mechanism string
	// AllowInsecure permits AUTH over a connection without TLS. Without
	// it, a session that is not encrypted is not authenticated and the
	// message is deferred.
	AllowInsecure bool
}

// Dialer opens a connection; *net.Dialer is one.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Timeouts bound each step of a session. Zero values take the defaults,
// which follow RFC 5321 §4.5.3.2 where it has one.
type Timeouts struct {
	Connect   time.Duration // opening the connection; default 30s
	Greeting  time.Duration // the 220 greeting; default 5m (§4.5.3.2.1)
	Command   time.Duration // EHLO, STARTTLS and its handshake, AUTH, XCLIENT, XFORWARD, RSET; default 5m
	Mail      time.Duration // reply to MAIL; default 5m (§4.5.3.2.2)
	Rcpt      time.Duration // reply to each RCPT; default 5m (§4.5.3.2.3)
	DataInit  time.Duration // reply to DATA; default 2m (§4.5.3.2.4)
	DataBlock time.Duration // each write of message content; default 3m (§4.5.3.2.5)
	DataFinal time.Duration // reply(s) to the final dot; default 10m (§4.5.3.2.6)
}

// withDefaults fills the zero timeouts.
func (t Timeouts) withDefaults() Timeouts {
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.Connect, 30*time.Second)
	set(&t.Greeting, 5*time.Minute)
	set(&t.Command, 5*time.Minute)
	set(&t.Mail, 5*time.Minute)
	set(&t.Rcpt, 5*time.Minute)
	set(&t.DataInit, 2*time.Minute)
	set(&t.DataBlock, 3*time.Minute)
	set(&t.DataFinal, 10*time.Minute)
	return t
}

// target is a parsed Address.
type target struct {
	lmtp    bool
	network string // "tcp" or "unix"
	addr    string // host:port or socket path
	host    string // host name or address (tcp), "" for unix
}

// parseAddress parses Options.Address.
func parseAddress(s string) (target, error) {
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok {
		return target{}, fmt.Errorf("smtpclient: address %q has no scheme (smtp://, lmtp://, lmtp+unix:)", s)
	}
	switch strings.ToLower(scheme) {
	case "smtp", "lmtp":
		lmtp := strings.EqualFold(scheme, "lmtp")
		hostport, ok := strings.CutPrefix(rest, "//")
		if !ok || hostport == "" || strings.ContainsAny(hostport, "/?#@") {
			return target{}, fmt.Errorf("smtpclient: address %q: want %s://host:port", s, scheme)
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			host, port = strings.Trim(hostport, "[]"), "25"
			if lmtp {
				port = "24"
			}
		}
		if host == "" {
			return target{}, fmt.Errorf("smtpclient: address %q has no host", s)
		}
		return target{lmtp: lmtp, network: "tcp", addr: net.JoinHostPort(host, port), host: host}, nil
	case "lmtp+unix":
		path := strings.TrimPrefix(rest, "//")
		if path == "" {
			return target{}, fmt.Errorf("smtpclient: address %q has no socket path", s)
		}
		return target{lmtp: true, network: "unix", addr: path}, nil
	}
	return target{}, fmt.Errorf("smtpclient: address %q: unknown scheme %q (want smtp, lmtp or lmtp+unix)", s, scheme)
}

// normalize validates opts and fills the defaults.
func (o Options) normalize() (Options, target, error) {
	t, err := parseAddress(o.Address)
	if err != nil {
		return o, t, err
	}
	if o.TLS == "" {
		o.TLS = tls.PolicyOpportunistic
	}
	if _, err := tls.ParsePolicy(string(o.TLS)); err != nil {
		return o, t, fmt.Errorf("smtpclient: %w", err)
	}
	if o.TLSServerName == "" {
		o.TLSServerName = t.host
	}
	if o.Auth != nil {
		if o.Auth.Username == "" {
			return o, t, errors.New("smtpclient: Auth needs a user name")
		}
		switch m := strings.ToUpper(o.Auth.Mechanism); m {
		case "", "PLAIN", "LOGIN":
			a := *o.Auth
			a.Mechanism = m
			o.Auth = &a
		default:
			return o, t, fmt.Errorf("smtpclient: AUTH mechanism %q is not supported (PLAIN or LOGIN)", o.Auth.Mechanism)
		}
	}
	if o.HeloName == "" {
		o.HeloName = defaultHeloName()
	}
	if strings.ContainsAny(o.HeloName, " \t\r\n") {
		return o, t, fmt.Errorf("smtpclient: HeloName %q holds white space", o.HeloName)
	}
	o.Timeouts = o.Timeouts.withDefaults()
	if o.MaxConnections <= 0 {
		o.MaxConnections = 10
	}
	if o.MaxMessagesPerConn <= 0 {
		o.MaxMessagesPerConn = 100
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = 30 * time.Second
	}
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, t, nil
}

// defaultHeloName is this machine's host name when it looks like one.
func defaultHeloName() string {
	h, err := os.Hostname()
	if err != nil || h == "" || strings.ContainsAny(h, " \t\r\n[]") {
		return "localhost"
	}
	return h
}
