package config

import (
	"log/slog"
	"net/netip"
	"time"
)

// Config is the whole validated configuration. Load fills every field:
// a key that no layer sets holds its default.
type Config struct {
	// File is the configuration file read, "" when none was.
	File string

	Hostname string     // greeting, Received, macro j
	DataDir  string     // spool, default maildir, state
	LogLevel slog.Level // log_level: debug, info, warn, error

	SMTP         SMTP
	Queue        Queue
	Downstream   Downstream
	Milters      []Milter // external milters, in order
	MilterServer MilterServer
	Filters      Filters
	Metrics      Metrics
}

// SMTP is the [smtp] table: the front-end's listeners, relay control and limits.
type SMTP struct {
	Listen              []string       // host:port
	RelayDomains        []string       // accept RCPT for these domains from anyone; ".example.org" for its subdomains
	TrustedNetworks     []netip.Prefix // may relay to any domain
	XClientHosts        []netip.Prefix // may send XCLIENT
	XForwardHosts       []netip.Prefix // may send XFORWARD
	MaxMessageSize      int64          // bytes
	MaxRecipients       int
	MaxConnections      int
	MaxConnectionsPerIP int
	BareLF              string // BareLFReject or BareLFNormalize
	TLS                 SMTPTLS
	Auth                SMTPAuth
	CommandTimeout      time.Duration // waiting for a command line (RFC 5321 §4.5.3.2.7)
	DataTimeout         time.Duration // waiting for more content in DATA or BDAT
	ConnectionTimeout   time.Duration // a whole session
	ShutdownTimeout     time.Duration // SIGTERM: transactions in flight may finish this long
	// ResolveClientNames looks up each client's host name (forward-confirmed
	// reverse DNS) for Received, macros and the access filter's client
	// rules; false: clients are known by address only.
	ResolveClientNames bool
	DNSTimeout         time.Duration // bounds the client name lookups of one connection
	// ProxyNetworks are load balancers that must start each connection
	// with a PROXY protocol (v1 or v2) header; empty: PROXY is off.
	ProxyNetworks []netip.Prefix
	// VerifyRecipients asks the downstream at RCPT time whether it takes
	// each recipient of a relay domain (MAIL FROM:<>, RCPT TO, RSET),
	// and refuses those it refuses: no backscatter. Needs an smtp or
	// lmtp downstream.
	VerifyRecipients  bool
	VerifyCacheTTL    time.Duration // how long an accepted address is remembered
	VerifyNegativeTTL time.Duration // how long a refused address is remembered
	VerifyTimeout     time.Duration // bounds one verification
	VerifyOnError     string        // VerifyOnErrorTempfail or VerifyOnErrorAccept
}

// Values of SMTP.VerifyOnError: what a recipient gets when the
// downstream cannot say (4xx, no connection, timeout).
const (
	VerifyOnErrorTempfail = "tempfail" // 450 4.1.1, the client retries
	VerifyOnErrorAccept   = "accept"   // take the recipient unverified
)

// Values of SMTP.BareLF.
const (
	BareLFReject    = "reject"
	BareLFNormalize = "normalize"
)

// SMTPTLS is [smtp.tls]. Empty files mean a self-signed certificate for Hostname.
type SMTPTLS struct {
	CertFile string
	KeyFile  string
}

// SMTPAuth is [smtp.auth]. An empty UsersFile means AUTH is not offered.
type SMTPAuth struct {
	UsersFile string
}

// Queue is the [queue] table.
type Queue struct {
	Dir    string          // resolved: <data_dir>/spool when the key is empty
	Retry  []time.Duration // delays between delivery attempts; the last repeats
	MaxAge time.Duration   // bounce after this long in the queue
	// LogMaxMessage: bodies up to this size share the queue's log (one
	// fsync for many messages); larger ones get a file each; 0: all do.
	LogMaxMessage int64
	SegmentSize   int64 // the log starts a new segment file beyond this size
}

// Downstream is the [downstream] table: where accepted mail is relayed.
type Downstream struct {
	Address  string // as written
	Target   Target // Address parsed
	TLS      string // none, opportunistic, required, verify
	XClient  bool   // use XCLIENT when the downstream offers it
	XForward bool   // else XFORWARD when offered
}

// Milter is one [[milters]] entry: an external milter in the chain.
type Milter struct {
	Name           string // defaults to the address as written
	Address        Socket
	DefaultAction  string // accept, tempfail, reject, quarantine, shutdown
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	EOMTimeout     time.Duration
	// MaxIdleConns keeps up to this many milter connections open between
	// SMTP sessions, reused with SMFIC_QUIT_NC; 0 (the default) keeps
	// none. Neither Postfix nor Sendmail reuses milter connections, so
	// only milters known to accept SMFIC_QUIT_NC gain from it.
	MaxIdleConns int
	IdleTimeout  time.Duration // how long an idle connection is kept
}

// MilterServer is the [milter_server] table used by `sluice milter`.
type MilterServer struct {
	Listen           Socket
	MaxConnections   int
	ReadTimeout      time.Duration // idle time waiting for the MTA's next command
	WriteTimeout     time.Duration
	ShutdownTimeout  time.Duration // how long sessions may finish after SIGTERM
	FailureAction    string        // what a filter panic or error answers: tempfail, reject, accept
	ProgressInterval time.Duration // SMFIR_PROGRESS period during a slow end of message
	MaxPacket        int64         // 0: the codec's default
}

// Filters holds the built-in filters. A nil field is a filter that is off;
// a table under [filters] in the file turns its filter on. When the file
// has no [filters] table at all, the default set applies: headers, adding
// "X-Filtered-By: sluice". A [filters] table in the file replaces that set
// as a whole (an empty [filters] turns every built-in off).
type Filters struct {
	Headers *HeadersFilter
	Access  *AccessFilter
	DNSBL   *DNSBLFilter
	// Greylist is [filters.greylist] (filter_greylist.go).
	Greylist *GreylistFilter
	// RateLimit is [filters.ratelimit] (filter_ratelimit.go).
	RateLimit *RateLimitFilter
	// SPF is [filters.spf] (filter_spf.go).
	SPF *SPFFilter
	// DKIM is [filters.dkim] (filter_dkim.go).
	DKIM *DKIMFilter
	// DMARC is [filters.dmarc] (filter_dmarc.go).
	DMARC *DMARCFilter
}

// HeadersFilter is [filters.headers].
type HeadersFilter struct {
	Add    []HeaderField // added to every message, in order
	Remove []string      // field names; every occurrence is removed
}

// HeaderField is one "Name: value" of HeadersFilter.Add.
type HeaderField struct {
	Name  string
	Value string
}

// AccessFilter is [filters.access]: rules tried in order, first match wins.
type AccessFilter struct {
	Rules []AccessRule
}

// AccessRule is one [[filters.access.rules]] entry. Exactly one of Client,
// HELO, Sender and Recipient is set; Match reports which.
//
//   - Client: an IP address, a CIDR prefix, or /regex/ on the client's name.
//   - HELO: the exact HELO name (case-insensitive) or /regex/.
//   - Sender, Recipient: an exact address (user@example.org), a domain
//     (example.org), every subdomain (.example.org), or /regex/; "<>" is the
//     null sender.
//
// Regexes use RE2 syntax (package regexp) between slashes.
type AccessRule struct {
	Client    string
	HELO      string
	Sender    string
	Recipient string
	Action    string // reject, tempfail, discard, quarantine, accept
	Reply     string // optional "550 5.7.1 text" for reject and tempfail
	Reason    string // quarantine reason
}

// Match returns the rule's match key ("client", "helo", "sender",
// "recipient") and its pattern.
func (r AccessRule) Match() (key, pattern string) {
	switch {
	case r.Client != "":
		return "client", r.Client
	case r.HELO != "":
		return "helo", r.HELO
	case r.Sender != "":
		return "sender", r.Sender
	default:
		return "recipient", r.Recipient
	}
}

// Metrics is [metrics]. An empty Listen turns the endpoint off.
type Metrics struct {
	Listen string // host:port
}
