package dnsbl

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// The test lists: 192.0.2.99 is in both zones (bl.test answers
// 127.0.0.2, codes.test 127.0.0.4), 192.0.2.50 only in codes.test with
// 127.0.0.20, 2001:db8::99 in bl.test; fail.test fails and slow.test never
// answers; err.test answers with Spamhaus' error code.
var testRecords = map[string][]string{
	"99.2.0.192.bl.test":    {"127.0.0.2"},
	"99.2.0.192.codes.test": {"127.0.0.4"},
	"50.2.0.192.codes.test": {"127.0.0.20"},
	"9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.test": {"127.0.0.3"},
	"99.2.0.192.err.test":   {"127.255.255.254"},
	"99.2.0.192.allow.test": {"127.0.0.2"},
}

const (
	listed4  = "192.0.2.99"
	clean4   = "192.0.2.1"
	listed6  = "2001:db8::99"
	codes20  = "192.0.2.50"
	rejected = "554 5.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test"
)

// run drives one session through connect, two RCPTs and end of message
// and returns the verdicts of the stages the filter asks for, as
// "stage verdict" strings, then the edits.
func run(t *testing.T, f *Filter, client string) []string {
	t.Helper()
	ctx := t.Context()
	s, err := f.NewSession(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	n := f.Needs()
	var out []string
	note := func(st filter.Stage, v filter.Verdict) bool {
		if n.Skip.Has(st) {
			return true
		}
		if n.NoReply.Has(st) && v != filter.Continue {
			t.Errorf("%s: verdict %v at a NoReply stage", st, v)
		}
		out = append(out, st.String()+" "+v.String())
		return v.Action != filter.ActionReject && v.Action != filter.ActionTempFail
	}
	conn := &envelope.Conn{ClientAddr: netip.AddrPortFrom(netip.MustParseAddr(client), 40000)}
	if !note(filter.StageConnect, s.Connect(ctx, conn)) {
		return out
	}
	note(filter.StageRcpt, s.Rcpt(ctx, envelope.Address{Addr: "a@example.org"}))
	note(filter.StageRcpt, s.Rcpt(ctx, envelope.Address{Addr: "b@example.org"}))
	m := filter.NewModifier(n.Edits, nil)
	note(filter.StageEndOfMessage, s.EndOfMessage(ctx, m))
	for _, e := range m.Edits() {
		out = append(out, e.String())
	}
	return out
}

func TestSession(t *testing.T) {
	d := startDNS(t, testRecords, []string{"99.2.0.192.fail.test", "1.2.0.192.fail.test"},
		[]string{"99.2.0.192.slow.test", "1.2.0.192.slow.test"})
	const tempDNS = "tempfail 451 4.4.3 Client [%s] blocklist lookup failed, try again later"
	for _, c := range []struct {
		name   string
		opts   Options
		client string
		want   []string
	}{
		{"listed_v4", Options{Zones: []string{"bl.test"}}, listed4, []string{"connect reject " + rejected}},
		{"clean_v4", Options{Zones: []string{"bl.test"}}, clean4, []string{"connect continue"}},
		{"listed_v6", Options{Zones: []string{"bl.test"}, Reply: "550 %a in %z (%r)"}, listed6,
			[]string{"connect reject 550 5.7.1 2001:db8::99 in bl.test (127.0.0.3)"}},
		{"mapped_v6_as_v4", Options{Zones: []string{"bl.test"}}, "::ffff:" + listed4, []string{"connect reject " + rejected}},
		{"codes_match", Options{Zones: []string{"codes.test=127.0.0.[2..11]"}}, listed4,
			[]string{"connect reject 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using codes.test"}},
		{"codes_no_match", Options{Zones: []string{"codes.test=127.0.0.[2..11]"}}, codes20, []string{"connect continue"}},
		{"codes_list", Options{Zones: []string{"codes.test=127.0.0.2,127.0.0.[19;20]"}, Reply: "%r"}, codes20,
			[]string{"connect reject 554 5.7.1 127.0.0.20"}},
		{"threshold_not_reached", Options{Zones: []string{"bl.test", "other.test"}, Threshold: 2}, listed4,
			[]string{"connect continue"}},
		{"threshold_reached", Options{Zones: []string{"bl.test", "codes.test"}, Threshold: 2, Reply: "554 5.7.0 %z: %r"}, listed4,
			[]string{"connect reject 554 5.7.0 bl.test, codes.test: 127.0.0.2, 127.0.0.4"}},
		{"weight", Options{Zones: []string{"codes.test*3"}, Threshold: 3}, codes20,
			[]string{"connect reject 554 5.7.1 Service unavailable; client [192.0.2.50] blocked using codes.test"}},
		{"same_zone_twice", Options{Zones: []string{"codes.test=127.0.0.4", "codes.test=127.0.0.[0..9]"}, Threshold: 2}, listed4,
			[]string{"connect reject 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using codes.test"}},
		{"allowlist", Options{Zones: []string{"bl.test", "allow.test*-1"}}, listed4, []string{"connect continue"}},
		{"tempfail_action", Options{Zones: []string{"bl.test"}, Action: "tempfail"}, listed4,
			[]string{"connect tempfail 451 4.7.1 Service unavailable; client [192.0.2.99] blocked using bl.test"}},
		{"skip_loopback", Options{Zones: []string{"bl.test"}}, "127.0.0.2", []string{"connect continue"}},
		{"skip_network", Options{Zones: []string{"bl.test"}, SkipNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
			listed4, []string{"connect continue"}},
		{"rcpt", Options{Zones: []string{"bl.test"}, RejectAt: "rcpt"}, listed4,
			[]string{"connect continue", "rcpt reject " + rejected, "rcpt reject " + rejected}},
		{"rcpt_clean", Options{Zones: []string{"bl.test"}, RejectAt: "rcpt"}, clean4,
			[]string{"connect continue", "rcpt continue", "rcpt continue"}},
		{"tag", Options{Zones: []string{"bl.test", "codes.test"}, Action: "tag"}, listed4,
			[]string{"connect continue", "eom continue", "addheader X-DNSBL: bl.test, codes.test"}},
		{"tag_clean", Options{Zones: []string{"bl.test"}, Action: "tag"}, clean4,
			[]string{"connect continue", "eom continue"}},
		{"servfail_accept", Options{Zones: []string{"fail.test"}}, listed4, []string{"connect continue"}},
		{"servfail_tempfail", Options{Zones: []string{"fail.test"}, OnDNSError: "tempfail"}, listed4,
			[]string{"connect " + strings.Replace(tempDNS, "%s", listed4, 1)}},
		{"servfail_cannot_change", Options{Zones: []string{"bl.test", "fail.test"}, OnDNSError: "tempfail"}, listed4,
			[]string{"connect reject " + rejected}},
		{"servfail_allowlist_unsure", Options{Zones: []string{"bl.test", "fail.test*-1"}, OnDNSError: "tempfail"}, listed4,
			[]string{"connect " + strings.Replace(tempDNS, "%s", listed4, 1)}},
		{"timeout_tempfail", Options{Zones: []string{"slow.test"}, OnDNSError: "tempfail", Timeout: 300 * time.Millisecond}, listed4,
			[]string{"connect " + strings.Replace(tempDNS, "%s", listed4, 1)}},
		{"timeout_rcpt", Options{Zones: []string{"slow.test", "bl.test"}, OnDNSError: "tempfail", RejectAt: "rcpt", Timeout: 300 * time.Millisecond}, clean4,
			[]string{"connect continue", "rcpt " + strings.Replace(tempDNS, "%s", clean4, 1), "rcpt " + strings.Replace(tempDNS, "%s", clean4, 1)}},
		{"error_code_is_failure", Options{Zones: []string{"err.test"}, OnDNSError: "tempfail"}, listed4,
			[]string{"connect " + strings.Replace(tempDNS, "%s", listed4, 1)}},
		{"error_code_explicit", Options{Zones: []string{"err.test=127.255.255.254"}}, listed4,
			[]string{"connect reject 554 5.7.1 Service unavailable; client [192.0.2.99] blocked using err.test"}},
		{"tag_tempfail_on_error", Options{Zones: []string{"fail.test"}, Action: "tag", OnDNSError: "tempfail"}, listed4,
			[]string{"connect " + strings.Replace(tempDNS, "%s", listed4, 1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.opts.Server = d.Addr
			f, err := New(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got := run(t, f, c.client)
			if !slices.Equal(got, c.want) {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
			if el := time.Since(start); el > 5*time.Second {
				t.Errorf("took %v", el)
			}
		})
	}
}

// TestQueriesInParallel: the lookups of all zones run at once, so two
// zones that never answer cost one timeout, not three; a zone named twice
// is asked once; a skipped client is not looked up.
func TestQueriesInParallel(t *testing.T) {
	d := startDNS(t, testRecords, nil, []string{"1.2.0.192.slow.test", "1.2.0.192.slow2.test", "1.2.0.192.slow3.test"})
	const timeout = time.Second
	f, err := New(Options{Zones: []string{"slow.test", "slow2.test", "slow3.test", "bl.test=127.0.0.2", "bl.test*2"}, Server: d.Addr, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if got := run(t, f, clean4); !slices.Equal(got, []string{"connect continue"}) {
		t.Errorf("got %q", got)
	}
	if el := time.Since(start); el < timeout || el >= 2*timeout+timeout/2 {
		t.Errorf("took %v, want about %v", el, timeout)
	}
	run(t, f, "::1")
	want := []string{"1.2.0.192.bl.test.", "1.2.0.192.slow.test.", "1.2.0.192.slow2.test.", "1.2.0.192.slow3.test."}
	got := d.asked()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("asked %q\nwant  %q", got, want)
	}
}

// TestCloseStopsLookups: a session closed before its RCPT stage cancels
// the lookups and an unused result is never waited for.
func TestCloseStopsLookups(t *testing.T) {
	d := startDNS(t, nil, nil, []string{"1.2.0.192.slow.test"})
	f, err := New(Options{Zones: []string{"slow.test"}, Server: d.Addr, RejectAt: "rcpt", Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.NewSession(t.Context(), nil)
	conn := &envelope.Conn{ClientAddr: netip.MustParseAddrPort("192.0.2.1:25")}
	if v := s.Connect(t.Context(), conn); v != filter.Continue {
		t.Fatalf("Connect: %v", v)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	v := s.Rcpt(ctx, envelope.Address{Addr: "a@example.org"})
	if v != filter.Continue || time.Since(start) > 5*time.Second {
		t.Errorf("Rcpt after its context ended: %v after %v, want continue at once", v, time.Since(start))
	}
	s.Close(t.Context())
}

func TestUnixSocketNotLookedUp(t *testing.T) {
	d := startDNS(t, testRecords, nil, nil)
	f, err := New(Options{Zones: []string{"bl.test"}, Server: d.Addr, SkipNetworks: []netip.Prefix{}})
	if err != nil {
		t.Fatal(err)
	}
	s, _ := f.NewSession(t.Context(), nil)
	if v := s.Connect(t.Context(), &envelope.Conn{ClientPath: "/run/x.sock"}); v != filter.Continue {
		t.Errorf("Connect: %v", v)
	}
	if q := d.asked(); len(q) != 0 {
		t.Errorf("asked %q", q)
	}
}
