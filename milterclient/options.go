package milterclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// Action is what the client does at a stage when its milter fails: it is
// down, times out, closes the connection, or sends anything malformed or
// out of order. The zero value is TempFail, Postfix's default.
type Action uint8

// Default actions, as config's default_action spells them.
const (
	// TempFail answers 451 4.7.1 at the stage that failed and every later
	// one of the SMTP connection.
	TempFail Action = iota
	// Accept skips the milter for the rest of the SMTP connection.
	Accept
	// Reject answers 550 5.7.1 at the stage that failed and every later
	// one.
	Reject
	// Quarantine lets the message through and quarantines it at end of
	// message, with a reason naming the milter and what it did.
	Quarantine
	// Shutdown answers 421 4.7.0: the SMTP server replies and closes the
	// connection.
	Shutdown
)

var actionNames = [...]string{"tempfail", "accept", "reject", "quarantine", "shutdown"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// ParseAction parses a default action as written in configuration:
// "accept", "tempfail", "reject", "quarantine" or "shutdown".
func ParseAction(s string) (Action, error) {
	for i, n := range actionNames {
		if s == n {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("milterclient: unknown default action %q (want accept, tempfail, reject, quarantine, shutdown)", s)
}

// Dialer opens connections to the milter; *net.Dialer satisfies it.
type Dialer interface {
	DialContext(ctx context.Context, network, address string) (net.Conn, error)
}

// Clock tells the time to the circuit breaker.
type Clock interface {
	Now() time.Time
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// BreakerOptions configure the circuit breaker. While the circuit is open,
// NewSession does not dial: its sessions apply the default action at once.
type BreakerOptions struct {
	// Failures is how many consecutive failed connection attempts (dial
	// or option negotiation) open the circuit. Default 3; negative
	// disables the breaker.
	Failures int
	// OpenFor is how long the circuit stays open. Then one session probes
	// the milter (the others still get the default action at once): if it
	// connects, the circuit closes; if not, it opens again. Default 10s.
	OpenFor time.Duration
}

// Trace is one packet exchanged with the milter, for protocol traces.
// Command is set for a packet sent, Response for one received. A body
// chunk's bytes are only valid during the call.
type Trace struct {
	Command  milter.Command
	Response milter.Response
}

// Options configure a Milter. The zero value of each field has the default
// its comment gives. Name, Address, DefaultAction and the three timeouts
// are the keys of a [[milters]] entry in sluice's configuration.
type Options struct {
	// Name identifies the milter in logs and quarantine reasons; default
	// Address.
	Name string
	// Address is the milter's socket: "unix:/path" (or "local:/path"),
	// "inet:port@host", "inet6:port@host", or Postfix's "inet:host:port".
	Address string
	// DefaultAction applies when the milter fails; default TempFail.
	DefaultAction Action

	// ConnectTimeout bounds dialing; default 5s.
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command and its reply (and option
	// negotiation); default 30s. SMFIR_PROGRESS restarts it.
	CommandTimeout time.Duration
	// EOMTimeout bounds the wait for each reply at end of message; default
	// 5m. SMFIR_PROGRESS restarts it, up to ten times EOMTimeout in all.
	EOMTimeout time.Duration

	// Macros lists, per stage, the macros sent to the milter (values come
	// from the filter.Macros given to NewSession; undefined ones are not
	// sent). nil means Postfix's defaults (filter.DefaultMacros); a stage
	// missing from a non-nil map gets none. A milter's own lists
	// (SMFIR_SETSYMLIST in its negotiation reply) replace these for the
	// stages it names.
	Macros map[filter.Stage][]string

	// Version is the protocol version offered; default 6. The client
	// accepts any version from 2 up to it in the milter's answer.
	Version uint32
	// Actions are the modifications offered (SMFIF_*); default
	// milter.ActAll.
	Actions milter.ActionFlags
	// Protocol are the protocol steps offered (SMFIP_*); default
	// milter.ProtoAll with SMFIP_MDS_256K and SMFIP_MDS_1M (those that
	// MaxPacket can hold).
	Protocol milter.ProtoFlags
	// MaxPacket bounds a packet from the milter; default
	// milter.MaxPacketFor(milter.ProtoMDS1M), about 1 MiB, whatever size
	// was negotiated (some milters send a replaced body in one packet).
	MaxPacket int
	// MaxEdits bounds the modification replies at one end of message;
	// default 10000.
	MaxEdits int
	// MaxReplacementBody bounds a replaced body; default 256 MiB. Beyond
	// MemoryBody bytes it is spooled to an unlinked file in TempDir.
	MaxReplacementBody int64
	// MemoryBody is how much of a replaced body stays in memory; default
	// 256 KiB.
	MemoryBody int
	// TempDir holds spooled replacement bodies; default os.TempDir().
	TempDir string

	// Breaker configures the circuit breaker.
	Breaker BreakerOptions

	// MaxIdleConns turns on connection reuse across SMTP connections
	// (SMFIC_QUIT_NC, protocol version 6) and bounds the milter
	// connections kept idle between them. 0, the default, keeps none:
	// every SMTP connection gets its own milter connection, closed with
	// SMFIC_QUIT. See Session.Close for when a connection is kept.
	MaxIdleConns int
	// IdleTimeout is how long an idle connection is kept; default 30s.
	IdleTimeout time.Duration

	// Dialer opens connections; default a *net.Dialer.
	Dialer Dialer
	// Logger receives failures and circuit changes; default
	// slog.Default(). Records carry the attribute milter=Name.
	Logger *slog.Logger
	// Clock drives the circuit breaker; default the system clock.
	Clock Clock
	// Trace, when set, is called with every packet sent and received,
	// from the goroutine driving the session.
	Trace func(Trace)
}

// Defaults for Options.
const (
	DefaultConnectTimeout     = 5 * time.Second
	DefaultCommandTimeout     = 30 * time.Second
	DefaultEOMTimeout         = 5 * time.Minute
	DefaultMaxEdits           = 10000
	DefaultMaxReplacementBody = 256 << 20
	DefaultMemoryBody         = 256 << 10
	DefaultBreakerFailures    = 3
	DefaultBreakerOpenFor     = 10 * time.Second
	DefaultIdleTimeout        = 30 * time.Second
)

func (o Options) withDefaults() (Options, error) {
	if o.Address == "" {
		return o, errors.New("milterclient: no milter address")
	}
	if o.Name == "" {
		o.Name = o.Address
	}
	if o.DefaultAction > Shutdown {
		return o, fmt.Errorf("milterclient: milter %s: bad default action %v", o.Name, o.DefaultAction)
	}
	o.ConnectTimeout = orDefault(o.ConnectTimeout, DefaultConnectTimeout)
	o.CommandTimeout = orDefault(o.CommandTimeout, DefaultCommandTimeout)
	o.EOMTimeout = orDefault(o.EOMTimeout, DefaultEOMTimeout)
	if o.Version == 0 {
		o.Version = milter.ProtocolVersion
	}
	if o.Version < milter.MinProtocolVersion || o.Version > milter.ProtocolVersion {
		return o, fmt.Errorf("milterclient: milter %s: protocol version %d not in 2..6", o.Name, o.Version)
	}
	if o.Actions == 0 {
		o.Actions = milter.ActAll
	}
	if o.MaxPacket <= 0 {
		o.MaxPacket = milter.MaxPacketFor(milter.ProtoMDS1M)
	}
	if o.Protocol == 0 {
		o.Protocol = milter.ProtoAll | milter.ProtoMDS256K | milter.ProtoMDS1M
	}
	o.Protocol = fitMDS(o.Protocol, o.MaxPacket)
	if o.MaxEdits <= 0 {
		o.MaxEdits = DefaultMaxEdits
	}
	if o.MaxReplacementBody <= 0 {
		o.MaxReplacementBody = DefaultMaxReplacementBody
	}
	if o.MemoryBody <= 0 {
		o.MemoryBody = DefaultMemoryBody
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	if o.Breaker.Failures == 0 {
		o.Breaker.Failures = DefaultBreakerFailures
	}
	o.Breaker.OpenFor = orDefault(o.Breaker.OpenFor, DefaultBreakerOpenFor)
	if o.MaxIdleConns < 0 {
		return o, fmt.Errorf("milterclient: milter %s: negative MaxIdleConns %d", o.Name, o.MaxIdleConns)
	}
	o.IdleTimeout = orDefault(o.IdleTimeout, DefaultIdleTimeout)
	if o.Dialer == nil {
		o.Dialer = &net.Dialer{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	return o, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// fitMDS drops the data-size bits whose packets MaxPacket cannot hold.
func fitMDS(p milter.ProtoFlags, maxPacket int) milter.ProtoFlags {
	if maxPacket < milter.MaxPacketFor(milter.ProtoMDS1M) {
		p &^= milter.ProtoMDS1M
	}
	if maxPacket < milter.MaxPacketFor(milter.ProtoMDS256K) {
		p &^= milter.ProtoMDS256K
	}
	return p
}
