package dkim

import (
	"context"
	"crypto"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/sluice-mta/sluice/filter"
)

// Resolver looks up DNS TXT records; *net.Resolver satisfies it.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
}

// Options configures the filter. The zero value verifies with the
// defaults given and signs nothing; it needs Hostname or AuthservID.
type Options struct {
	// NoVerify turns verification off (the filter only signs).
	NoVerify bool
	// AuthservID names this host in Authentication-Results; default
	// Hostname.
	AuthservID string
	// Hostname is this host's name, the default AuthservID.
	Hostname string
	// RejectOnFail refuses, with 550 5.7.20, a message that has
	// signatures none of which passes, all failing for good.
	RejectOnFail bool
	// TempFailDNS answers 451 4.4.3 when no signature passes and a key
	// lookup failed; otherwise the message goes on with dkim=temperror.
	TempFailDNS bool
	// MaxSignatures bounds the signatures verified per message; default 5.
	// Those beyond it are ignored.
	MaxSignatures int

	// Keys sign mail whose From domain is theirs.
	Keys []Key
	// SignNetworks are the client networks whose mail is signed; nil:
	// loopback (127.0.0.0/8 and ::1); empty and not nil: none.
	SignNetworks []netip.Prefix
	// NoSignAuthenticated: do not sign the mail of authenticated clients
	// (those with the {auth_authen} macro) outside SignNetworks.
	NoSignAuthenticated bool
	// SignHeaders are the header fields signed, when present; default
	// DefaultSignHeaders. It must hold From.
	SignHeaders []string

	// MaxMessageBytes bounds the message kept to verify or sign it;
	// default 10 MiB. A larger message passes untouched.
	MaxMessageBytes int64
	// MemoryBytes of a message are kept in memory, the rest in a
	// temporary file; default 64 KiB.
	MemoryBytes int
	// TempDir holds the temporary files; default os.TempDir().
	TempDir string
	// Timeout bounds the key lookups of one message; default 10s.
	Timeout time.Duration
	// Resolver looks up keys; default net.DefaultResolver.
	Resolver Resolver
	// Logger gets a line per message verified, signed or skipped, and
	// New's warnings; default slog.Default().
	Logger *slog.Logger
}

// Key is one signing key.
type Key struct {
	Domain   string // the d= domain, also the From domain it signs for
	Selector string // the s= selector: the key is at SELECTOR._domainkey.DOMAIN
	// KeyFile is a PEM file holding the private key, read by New.
	KeyFile string
	// Signer is the key itself, used instead of KeyFile when set: an
	// *rsa.PrivateKey or ed25519.PrivateKey.
	Signer crypto.Signer
}

// DefaultSignHeaders are the fields signed by default: those RFC 6376
// §5.4.1 recommends, plus the message's identity and MIME structure.
var DefaultSignHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", "Resent-Date", "Resent-From", "Resent-To",
	"Resent-Cc", "List-Id", "List-Help", "List-Unsubscribe",
	"List-Unsubscribe-Post", "List-Subscribe", "List-Post", "List-Owner",
	"List-Archive",
}

// Defaults.
const (
	defaultMaxSignatures   = 5
	defaultMaxMessageBytes = 10 << 20
	defaultMemoryBytes     = 64 << 10
	defaultTimeout         = 10 * time.Second
)

// signingKey is a loaded Key.
type signingKey struct {
	domain, selector string
	signer           crypto.Signer
}

// Filter verifies and signs DKIM. It is safe for concurrent use.
type Filter struct {
	verify      bool
	authservID  string
	rejectFail  bool
	tempFailDNS bool
	maxSigs     int

	keys        map[string][]signingKey // by lower-case domain
	networks    []netip.Prefix
	signAuth    bool
	signHeaders []string

	maxBytes int64
	memBytes int
	tempDir  string
	timeout  time.Duration
	resolver Resolver
	log      *slog.Logger
	needs    filter.Needs
}

// New checks opts, loads the keys and returns the filter. Its errors are
// *OptionError values naming the option at fault, joined when several.
func New(opts Options) (*Filter, error) {
	f := &Filter{
		verify:      !opts.NoVerify,
		rejectFail:  opts.RejectOnFail,
		tempFailDNS: opts.TempFailDNS,
		maxSigs:     orDefault(opts.MaxSignatures, defaultMaxSignatures),
		networks:    opts.SignNetworks,
		signAuth:    !opts.NoSignAuthenticated,
		maxBytes:    orDefault(opts.MaxMessageBytes, defaultMaxMessageBytes),
		memBytes:    orDefault(opts.MemoryBytes, defaultMemoryBytes),
		tempDir:     opts.TempDir,
		timeout:     orDefault(opts.Timeout, defaultTimeout),
		resolver:    opts.Resolver,
		log:         opts.Logger,
	}
	if f.networks == nil {
		f.networks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.log == nil {
		f.log = slog.Default()
	}
	if err := f.check(opts); err != nil {
		return nil, err
	}
	f.needs = f.computeNeeds()
	return f, nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// computeNeeds: connect and MAIL tell whether the client may sign (only
// when there are keys), the header fields and body are kept, end of
// message verifies or signs. Only the body and end of message answer.
func (f *Filter) computeNeeds() filter.Needs {
	used := filter.Stages(filter.StageHeader, filter.StageBody, filter.StageEndOfMessage)
	n := filter.Needs{
		Macros:             map[filter.Stage][]string{filter.StageEndOfMessage: {"i"}},
		HeaderLeadingSpace: true,
	}
	if len(f.keys) > 0 {
		used |= filter.Stages(filter.StageConnect, filter.StageMail)
		n.Edits |= filter.EditAddHeader | filter.EditInsertHeader
		if f.signAuth {
			n.Macros[filter.StageMail] = []string{"{auth_authen}"}
		}
	}
	if f.verify {
		n.Edits |= filter.EditAddHeader | filter.EditInsertHeader | filter.EditChangeHeader
	}
	n.Skip = filter.AllStages &^ used
	n.NoReply = filter.Stages(filter.StageConnect, filter.StageMail, filter.StageHeader) & used
	return n
}

// Name implements filter.Named.
func (f *Filter) Name() string { return "dkim" }

// Needs implements filter.Filter.
func (f *Filter) Needs() filter.Needs { return f.needs }

// NewSession implements filter.Filter.
func (f *Filter) NewSession(_ context.Context, macros filter.Macros) (filter.Session, error) {
	return &session{f: f, macros: macros, buf: spool{limit: f.maxBytes, memMax: f.memBytes, dir: f.tempDir}}, nil
}
