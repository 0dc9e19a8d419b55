package greylist

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const greyReply = "tempfail 450 4.2.0 Greylisted, please try again later"

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTest(t *testing.T, o Options, c *clock) *Filter {
	t.Helper()
	o.Now, o.Logger = c.now, quiet()
	f, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// attempt is one SMTP transaction: client, sender, recipients, and the
// verdict wanted for each recipient ("" for continue) and at end of
// message.
type attempt struct {
	after  time.Duration // clock advance before the attempt
	client string
	auth   string // {auth_authen}
	from   string
	rcpts  []string
	want   []string
	eom    string
}

func run(t *testing.T, f *Filter, c *clock, steps []attempt) {
	t.Helper()
	ctx := context.Background()
	for i, a := range steps {
		c.advance(a.after)
		macros := filter.MacroMap{}
		if a.auth != "" {
			macros.Set("{auth_authen}", a.auth)
		}
		s, err := f.NewSession(ctx, macros)
		if err != nil {
			t.Fatal(err)
		}
		conn := &envelope.Conn{}
		if a.client != "" {
			conn.ClientAddr = netip.AddrPortFrom(netip.MustParseAddr(a.client), 40000)
		}
		check := func(what string, v filter.Verdict, want string) {
			t.Helper()
			if want == "" {
				want = "continue"
			}
			if v.String() != want {
				t.Errorf("attempt %d %s: %q, want %q", i, what, v, want)
			}
		}
		check("connect", s.Connect(ctx, conn), "")
		check("mail", s.Mail(ctx, envelope.Address{Addr: a.from}), "")
		for j, r := range a.rcpts {
			check("rcpt "+r, s.Rcpt(ctx, envelope.Address{Addr: r}), a.want[j])
		}
		if f.opts.ReplyAtData {
			check("eom", s.EndOfMessage(ctx, filter.NewModifier(0, nil)), a.eom)
		}
		s.Close(ctx)
	}
}

func TestGreylist(t *testing.T) {
	const c1, c1b, c2, c6, c6b = "192.0.2.1", "192.0.2.200", "198.51.100.1", "2001:db8:1:2::1", "2001:db8:1:2:ffff::9"
	grey, ok := greyReply, ""
	for _, tc := range []struct {
		name  string
		opts  Options
		steps []attempt
	}{
		{"first greylisted, early retry greylisted, retry after delay passes, then remembered", Options{}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 4 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{after: 30 * 24 * time.Hour, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{after: 34 * 24 * time.Hour, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
		}},
		{"expired after expire without a sighting", Options{}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 5 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{after: 35*24*time.Hour + time.Second, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
		}},
		{"a retry after the retry window starts again", Options{}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 49 * time.Hour, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 4 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
		}},
		{"the triplet is per network, sender and recipient", Options{}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com", "c@example.com"}, want: []string{grey, grey}},
			{after: 5 * time.Minute, client: c1b, from: "A@Example.ORG", rcpts: []string{"B@example.com", "d@example.com"}, want: []string{ok, grey}},
			{client: c2, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{client: c1, from: "other@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
		}},
		{"ipv6 by /64, mapped ipv4 as ipv4", Options{}, []attempt{
			{client: c6, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{client: "::ffff:192.0.2.7", from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 5 * time.Minute, client: c6b, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
		}},
		{"per-host prefixes", Options{IPv4Prefix: 32, IPv6Prefix: 128}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 5 * time.Minute, client: c1b, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
		}},
		{"sender normalization: digits and BATV", Options{}, []attempt{
			{client: c1, from: "bounce-1234-x77@lists.example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 5 * time.Minute, client: c1, from: "bounce-98-x1@lists.example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c2, from: "prvs=0123abcd=joe@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: 5 * time.Minute, client: c2, from: "joe@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
		}},
		{"whitelists: networks, authenticated, senders, recipients, no address", Options{
			WhitelistNetworks:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("198.51.100.0/24")},
			WhitelistSenders:    []string{"<>", ".example.net", "friend@"},
			WhitelistRecipients: []string{"postmaster@", "Example.COM", "x@example.edu"},
		}, []attempt{
			{client: "127.0.0.1", from: "a@example.org", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: "::ffff:198.51.100.9", from: "a@example.org", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: c1, auth: "alice", from: "a@example.org", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: "", from: "a@example.org", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: c1, from: "", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: c1, from: "a@lists.example.net", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: c1, from: "a@example.net", rcpts: []string{"b@example.org"}, want: []string{grey}},
			{client: c1, from: "FRIEND@anywhere.test", rcpts: []string{"b@example.org"}, want: []string{ok}},
			{client: c1, from: "s@example.org", rcpts: []string{"PostMaster@example.org", "u@example.com", "x@example.edu", "y@example.edu"}, want: []string{ok, ok, ok, grey}},
		}},
		{"auto-whitelist after 2 messages, counted once per message", Options{AutoWhitelistCount: 2}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com", "c@example.com"}, want: []string{grey, grey}},
			{after: 5 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com", "c@example.com"}, want: []string{ok, ok}},
			{client: c1b, from: "new@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1b, from: "new2@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{after: 36 * 24 * time.Hour, client: c1, from: "new3@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
		}},
		{"auto-whitelist off", Options{AutoWhitelistCount: -1, Delay: time.Second}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
			{after: time.Second, client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}},
			{client: c1, from: "z@example.org", rcpts: []string{"b@example.com"}, want: []string{grey}},
		}},
		{"reply at end of message", Options{ReplyAtData: true}, []attempt{
			{client: c1, from: "a@example.org", rcpts: []string{"b@example.com"}, want: []string{ok}, eom: grey},
			{after: 5 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com", "c@example.com"}, want: []string{ok, ok}, eom: grey},
			{after: 5 * time.Minute, client: c1, from: "a@example.org", rcpts: []string{"b@example.com", "c@example.com"}, want: []string{ok, ok}, eom: ok},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			run(t, newTest(t, tc.opts, c), c, tc.steps)
		})
	}
}

func TestNeeds(t *testing.T) {
	for _, tc := range []struct {
		atData        bool
		skip, noReply string
	}{
		{false, "{helo,data,header,eoh,body,eom,unknown}", "{connect,mail}"},
		{true, "{helo,data,header,eoh,body,unknown}", "{connect,mail,rcpt}"},
	} {
		f := newTest(t, Options{ReplyAtData: tc.atData}, newClock())
		n := f.Needs()
		if n.Skip.String() != tc.skip || n.NoReply.String() != tc.noReply || n.Edits != 0 {
			t.Errorf("atData %t: skip %s noReply %s edits %v, want %s %s 0", tc.atData, n.Skip, n.NoReply, n.Edits, tc.skip, tc.noReply)
		}
		if len(n.Macros) != 1 || strings.Join(n.Macros[filter.StageMail], ",") != "{auth_authen}" {
			t.Errorf("macros %v, want only {auth_authen} at MAIL", n.Macros)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Delay: -time.Second}, "filter/greylist: delay: must be > 0, got -1s"},
		{Options{Delay: time.Hour, RetryWindow: time.Hour}, "filter/greylist: retry_window: must be longer than delay (1h0m0s), got 1h0m0s"},
		{Options{IPv4Prefix: 33}, "filter/greylist: ipv4_prefix: must be 1 to 32, got 33"},
		{Options{IPv6Prefix: -1}, "filter/greylist: ipv6_prefix: must be 1 to 128, got -1"},
		{Options{MaxEntries: -5}, "filter/greylist: max_entries: must be > 0, got -5"},
		{Options{WhitelistNetworks: []netip.Prefix{{}}}, "filter/greylist: whitelist_networks[0]: invalid network"},
		{Options{WhitelistRecipients: []string{"ok.example", "<>"}}, "filter/greylist: whitelist_recipients[1]: <> (the null sender) is for whitelist_senders only"},
		{Options{WhitelistSenders: []string{"a b"}}, `filter/greylist: whitelist_senders[0]: pattern "a b" holds a space, control character or angle bracket`},
		{Options{WhitelistSenders: []string{"@example.com"}}, `filter/greylist: whitelist_senders[0]: pattern "@example.com" has an empty local part (for a domain write "example.com")`},
		{Options{WhitelistSenders: []string{"a@b@c"}}, `filter/greylist: whitelist_senders[0]: pattern "a@b@c" has more than one @`},
		{Options{WhitelistSenders: []string{"example..com", ""}}, "filter/greylist: whitelist_senders[0]: pattern \"example..com\" has a malformed domain\nfilter/greylist: whitelist_senders[1]: empty pattern"},
	} {
		_, err := New(tc.opts)
		if err == nil || err.Error() != tc.want {
			t.Errorf("New(%+v) = %v, want %q", tc.opts, err, tc.want)
		}
		var oe *OptionError
		if err != nil && !errors.As(err, &oe) {
			t.Errorf("%v: not an *OptionError", err)
		}
	}
}

func TestNormalizeSender(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "",
		"User@Example.ORG":          "user@example.org",
		"bounce-123-45@example.org": "bounce-#-#@example.org",
		"prvs=4567abcd=joe@ex.org":  "joe@ex.org",
		"prvs=@ex.org":              "prvs=@ex.org",
		"no-at-9":                   "no-at-9",
		"a1@host2.example":          "a#@host2.example",
	} {
		if got := normalizeSender(in); got != want {
			t.Errorf("normalizeSender(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEvictionBound(t *testing.T) {
	c := newClock()
	f := newTest(t, Options{MaxEntries: 10}, c)
	ctx := context.Background()
	for i := range 25 {
		c.advance(time.Second)
		s, _ := f.NewSession(ctx, filter.NoMacros)
		s.Connect(ctx, &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:1")})
		s.Mail(ctx, envelope.Address{Addr: "a@example.org"})
		s.Rcpt(ctx, envelope.Address{Addr: string(rune('a'+i)) + "@example.com"})
	}
	if n := len(f.st.triplets); n > 10 || n < 5 {
		t.Fatalf("%d triplets kept, want 5 to 10", n)
	}
	// The most recent is kept, the oldest gone.
	if _, ok := f.st.triplets[tripletKey{netip.MustParsePrefix("192.0.2.0/24"), "a@example.org", "y@example.com"}]; !ok {
		t.Error("the most recent triplet was evicted")
	}
	if _, ok := f.st.triplets[tripletKey{netip.MustParsePrefix("192.0.2.0/24"), "a@example.org", "a@example.com"}]; ok {
		t.Error("the oldest triplet was kept")
	}
}
