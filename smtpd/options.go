package smtpd

import (
	"context"
	cryptotls "crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// BareLFPolicy says what the server does with a bare LF or a bare CR (one
// not part of a CRLF pair) in message content.
type BareLFPolicy string

// The policies, named as in the configuration (smtp.bare_lf).
const (
	// BareLFReject refuses the message (550 5.6.0) once its end is read.
	BareLFReject BareLFPolicy = "reject"
	// BareLFNormalize turns each bare CR and bare LF into CRLF.
	BareLFNormalize BareLFPolicy = "normalize"
)

// Options configure a Server. Hostname and Spool are required; every other
// zero value has the default its comment names.
type Options struct {
	// Hostname names this server: greeting, Received field, macro j.
	Hostname string
	// Spool receives accepted messages.
	Spool Spool
	// Filter runs at every stage; nil: no filtering. A filter that is not
	// a *filter.Chain is run as a chain of one, for the chain's handling
	// of accept, skip and rejected recipients.
	Filter filter.Filter

	// RelayDomains are the domains anyone may send to. An entry starting
	// with a dot (".example.org") matches the subdomains of the rest.
	RelayDomains []string
	// TrustedNetworks may send to any domain (relay), as may
	// authenticated clients.
	TrustedNetworks []netip.Prefix
	// XClientHosts and XForwardHosts may send XCLIENT and XFORWARD; the
	// commands are advertised to them only.
	XClientHosts  []netip.Prefix
	XForwardHosts []netip.Prefix
	// RecipientVerifier, when set, is asked at RCPT time about each
	// recipient of a RelayDomains domain that passed relay control,
	// before the filters see it: one the downstream refuses gets 550
	// with the downstream's reply. nil: recipients are not verified.
	RecipientVerifier RecipientVerifier
	// VerifyOnError is what a recipient gets when its verification fails
	// temporarily; default VerifyErrorTempfail (450 4.1.1).
	VerifyOnError VerifyErrorPolicy

	// TLSConfig enables STARTTLS; nil: not offered. See tls.ServerConfig.
	TLSConfig *cryptotls.Config
	// Auth enables AUTH PLAIN and LOGIN, offered only over TLS; nil: not
	// offered. See UsersFile.
	Auth Authenticator

	// MaxMessageSize bounds the content (header and body) in bytes;
	// default 50 MiB. It is advertised with SIZE.
	MaxMessageSize int64
	// MaxRecipients per transaction; default 1000. Beyond: 452 4.5.3.
	MaxRecipients int
	// MaxConnections at once; default 1000. Beyond: 421 4.7.0.
	MaxConnections int
	// MaxConnectionsPerIP from one client address; default 50.
	MaxConnectionsPerIP int
	// MaxErrors closes a session after that many error replies to bad
	// commands; default 20.
	MaxErrors int
	// MaxHeaderBytes bounds the header section as received; default
	// 256 KiB. Beyond: 552 5.3.4.
	MaxHeaderBytes int
	// MaxLineLength bounds a content line, CRLF included; default 1000
	// (RFC 5321 §4.5.3.1.6). Beyond: 500 5.6.0.
	MaxLineLength int
	// BareLF is the policy for bare CR and LF in content; default
	// BareLFReject.
	BareLF BareLFPolicy

	// Timeouts bound each stage; see Timeouts for the defaults.
	Timeouts Timeouts
	// Resolver looks up the client's host name (forward-confirmed reverse
	// DNS); nil: no lookups, clients are known by address. A
	// *net.Resolver satisfies it.
	Resolver Resolver
	// DaemonName is macro {daemon_name}; default "sluice".
	DaemonName string
	// Logger receives one line per mail decision and warnings; default
	// slog.Default().
	Logger *slog.Logger
	// Trace logs every command and reply at debug level, AUTH redacted.
	Trace bool
	// Clock gives the time for Received fields and arrival; default
	// time.Now.
	Clock func() time.Time
	// Observer is told of connections, refused recipients and each
	// message's outcome, for metrics; nil: nobody. Like Logger, the
	// one given to NewServer stays: Reload ignores this field.
	Observer Observer
}

// Timeouts bound the stages of a session. Zero values take the defaults.
type Timeouts struct {
	// Command is how long the server waits for a command line, and for
	// a reply to be written; default 5m (RFC 5321 §4.5.3.2.7).
	Command time.Duration
	// Data is how long the server waits for more content during DATA or
	// BDAT; default 5m (RFC 5321 §4.5.3.2.7).
	Data time.Duration
	// Connection bounds a whole session; default 1h.
	Connection time.Duration
	// TLSHandshake bounds the STARTTLS handshake; default 30s.
	TLSHandshake time.Duration
	// DNS bounds the client name lookups; default 10s.
	DNS time.Duration
	// Verify bounds one RecipientVerifier call; default 30s.
	Verify time.Duration
}

// Resolver looks up names; *net.Resolver satisfies it.
type Resolver interface {
	LookupAddr(ctx context.Context, addr string) ([]string, error)
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// withDefaults checks the options and fills in the defaults.
func (o Options) withDefaults() (Options, error) {
	if o.Hostname == "" || strings.ContainsAny(o.Hostname, " \t\r\n\x00") {
		return o, fmt.Errorf("smtpd: bad or missing host name %q", o.Hostname)
	}
	if o.Spool == nil {
		return o, errors.New("smtpd: no spool")
	}
	switch o.BareLF {
	case "":
		o.BareLF = BareLFReject
	case BareLFReject, BareLFNormalize:
	default:
		return o, fmt.Errorf("smtpd: unknown bare LF policy %q (want reject or normalize)", o.BareLF)
	}
	switch o.VerifyOnError {
	case "":
		o.VerifyOnError = VerifyErrorTempfail
	case VerifyErrorTempfail, VerifyErrorAccept:
	default:
		return o, fmt.Errorf("smtpd: unknown verify error policy %q (want tempfail or accept)", o.VerifyOnError)
	}
	defInt64(&o.MaxMessageSize, 50<<20)
	defInt(&o.MaxRecipients, 1000)
	defInt(&o.MaxConnections, 1000)
	defInt(&o.MaxConnectionsPerIP, 50)
	defInt(&o.MaxErrors, 20)
	defInt(&o.MaxHeaderBytes, 256<<10)
	defInt(&o.MaxLineLength, 1000)
	if o.MaxLineLength < 80 {
		return o, fmt.Errorf("smtpd: MaxLineLength %d is below 80", o.MaxLineLength)
	}
	t := &o.Timeouts
	defDuration(&t.Command, 5*time.Minute)
	defDuration(&t.Data, 5*time.Minute)
	defDuration(&t.Connection, time.Hour)
	defDuration(&t.TLSHandshake, 30*time.Second)
	defDuration(&t.DNS, 10*time.Second)
	defDuration(&t.Verify, 30*time.Second)
	if o.DaemonName == "" {
		o.DaemonName = "sluice"
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Filter != nil {
		if _, ok := o.Filter.(*filter.Chain); !ok {
			o.Filter = filter.NewChain(o.Filter)
		}
	}
	domains := make([]string, len(o.RelayDomains))
	for i, d := range o.RelayDomains {
		domains[i] = strings.TrimSuffix(strings.ToLower(d), ".")
	}
	o.RelayDomains = domains
	return o, nil
}

func defInt(v *int, d int) {
	if *v <= 0 {
		*v = d
	}
}

func defInt64(v *int64, d int64) {
	if *v <= 0 {
		*v = d
	}
}

func defDuration(v *time.Duration, d time.Duration) {
	if *v <= 0 {
		*v = d
	}
}
