package ratelimit

import (
	"context"
	"net/netip"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// fakeClock is an injected clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func mustNew(t *testing.T, o Options) *Filter {
	t.Helper()
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// open starts a session from addr ("" for a unix socket) with macros.
func open(t *testing.T, f *Filter, addr string, macros filter.Macros) (filter.Session, filter.Verdict) {
	t.Helper()
	s, err := f.NewSession(t.Context(), macros)
	if err != nil {
		t.Fatal(err)
	}
	c := &envelope.Conn{ClientPath: "/run/x.sock"}
	if addr != "" {
		c = &envelope.Conn{ClientAddr: netip.AddrPortFrom(netip.MustParseAddr(addr), 40000)}
	}
	return s, s.Connect(t.Context(), c)
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative count", Options{Messages: -1}, "filter/ratelimit: Messages must be >= 0, got -1"},
		{"negative window", Options{Window: -time.Second}, "filter/ratelimit: Window must be > 0, got -1s"},
		{"window too short", Options{Recipients: 3, Window: 2}, "filter/ratelimit: Window 2ns is too short for 3 events"},
		{"prefix", Options{IPv6Prefix: 129}, "filter/ratelimit: IPv6Prefix must be 1 to 128, got 129"},
		{"negative prefix", Options{IPv6Prefix: -1}, "filter/ratelimit: IPv6Prefix must be 1 to 128, got -1"},
		{"max clients", Options{MaxClients: -5}, "filter/ratelimit: MaxClients must be > 0, got -5"},
		{"invalid network", Options{ExemptNetworks: []netip.Prefix{{}}}, "filter/ratelimit: ExemptNetworks[0] is not a valid network"},
		{"host bits", Options{ExemptNetworks: []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}},
			"filter/ratelimit: ExemptNetworks[0]: network 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)"},
		{"several", Options{Connections: -1, Recipients: -2, IPv6Prefix: 200},
			"filter/ratelimit: Connections must be >= 0, got -1\nfilter/ratelimit: Recipients must be >= 0, got -2\nfilter/ratelimit: IPv6Prefix must be 1 to 128, got 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.o)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New: %v\nwant  %s", err, tt.want)
			}
			if f != nil {
				t.Error("New returned a filter with an error")
			}
		})
	}
}

func TestNeeds(t *testing.T) {
	conn, mail, rcpt := filter.Stages(filter.StageConnect), filter.Stages(filter.StageMail), filter.Stages(filter.StageRcpt)
	all := filter.AllStages
	none := map[filter.Stage][]string{}
	auth := []string{"{auth_authen}"}
	tests := []struct {
		name string
		o    Options
		want filter.Needs
	}{
		{"nothing", Options{}, filter.Needs{Skip: all, Macros: none}},
		{"nothing, exempt auth", Options{ExemptAuthenticated: true}, filter.Needs{Skip: all, Macros: none}},
		{"connections", Options{Connections: 5}, filter.Needs{Skip: all &^ conn, Macros: none}},
		{"connections, exempt auth", Options{Connections: 5, ExemptAuthenticated: true}, filter.Needs{Skip: all &^ conn, Macros: none}},
		{"messages", Options{Messages: 5}, filter.Needs{Skip: all &^ (conn | mail), NoReply: conn, Macros: none}},
		{"recipients", Options{Recipients: 5}, filter.Needs{Skip: all &^ (conn | rcpt), NoReply: conn, Macros: none}},
		{"all", Options{Connections: 1, Messages: 1, Recipients: 1}, filter.Needs{Skip: all &^ (conn | mail | rcpt), Macros: none}},
		{"all, exempt auth", Options{Connections: 1, Messages: 1, Recipients: 1, ExemptAuthenticated: true},
			filter.Needs{Skip: all &^ (conn | mail | rcpt), Macros: map[filter.Stage][]string{filter.StageMail: auth, filter.StageRcpt: auth}}},
		{"recipients, exempt auth", Options{Recipients: 1, ExemptAuthenticated: true},
			filter.Needs{Skip: all &^ (conn | rcpt), NoReply: conn, Macros: map[filter.Stage][]string{filter.StageRcpt: auth}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustNew(t, tt.o).Needs(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Needs() = %+v\nwant      %+v", got, tt.want)
			}
		})
	}
}

// step is one event of a scenario: wait, then an event from a client and
// the verdict expected, as Verdict.String prints it.
type step struct {
	wait   time.Duration
	client string // address; "" for a unix socket
	stage  filter.Stage
	want   string
}

const cont = "continue"

// run plays steps on f; each connect step opens a session of its own,
// each MAIL and RCPT step uses the client's last session.
func run(t *testing.T, f *Filter, clk *fakeClock, steps []step, macros filter.Macros) {
	t.Helper()
	sessions := map[string]filter.Session{}
	ctx := context.Background()
	for i, st := range steps {
		clk.add(st.wait)
		var v filter.Verdict
		switch st.stage {
		case filter.StageConnect:
			sessions[st.client], v = open(t, f, st.client, macros)
		case filter.StageMail:
			v = sessions[st.client].Mail(ctx, envelope.Address{Addr: "a@example.com"})
		case filter.StageRcpt:
			v = sessions[st.client].Rcpt(ctx, envelope.Address{Addr: "b@example.com"})
		}
		if got := v.String(); got != st.want {
			t.Fatalf("step %d (%s %s after %v): %s\nwant %s", i, st.stage, st.client, st.wait, got, st.want)
		}
	}
}
