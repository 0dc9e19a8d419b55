package milterclient

import (
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

func TestParseReply(t *testing.T) {
	tests := []struct {
		text string
		want filter.Reply
		err  string
	}{
		{"550 5.7.1 go away", filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"go away"}}, ""},
		{"550 go away", filter.Reply{Code: 550, Lines: []string{"go away"}}, ""},
		{"451 4.7.1", filter.Reply{Code: 451, Enhanced: "4.7.1", Lines: []string{""}}, ""},
		{"550 5.7.10 ok", filter.Reply{Code: 550, Enhanced: "5.7.10", Lines: []string{"ok"}}, ""},
		{"550 4.7.1 wrong class kept as text", filter.Reply{Code: 550, Lines: []string{"4.7.1 wrong class kept as text"}}, ""},
		{"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 last", filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"first", "second", "last"}}, ""},
		{"550-5.7.1 first\r\n550\r\n550 last", filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"first", "", "last"}}, ""},
		{"550 5.7.1 100%% sure, 5%% of %%s", filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"100% sure, 5% of %s"}}, ""},
		{"550 5.7.1 lone % stays", filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"lone % stays"}}, ""},
		{"421 4.7.0 bye", filter.Reply{Code: 421, Enhanced: "4.7.0", Lines: []string{"bye"}}, ""},
		{"250 2.0.0 ok", filter.Reply{}, "does not start with a 4xx or 5xx code"},
		{"55 short", filter.Reply{}, "does not start with a 4xx or 5xx code"},
		{"550", filter.Reply{}, "does not start with a 4xx or 5xx code"},
		{"550x5.7.1 bad separator", filter.Reply{}, "does not start with a 4xx or 5xx code"},
		{"550-5.7.1 a\r\n451 4.7.1 b", filter.Reply{}, "does not start with code 550"},
		{"550 5.7.1 bare\nLF", filter.Reply{}, "contains CR, LF or NUL"},
		{"", filter.Reply{}, "does not start"},
	}
	for _, tt := range tests {
		got, err := parseReply(tt.text)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseReply(%q) error %v, want %q", tt.text, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseReply(%q) = %#v, %v; want %#v", tt.text, got, err, tt.want)
		}
	}
}

// FuzzParseReply: any text either parses into a valid reply or fails; it
// never panics.
func FuzzParseReply(f *testing.F) {
	for _, s := range []string{"550 5.7.1 go away", "451-4.7.1 a\r\n451 4.7.1 b", "550 %%", "421", "5", "550-\r\n550 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		r, err := parseReply(text)
		if err != nil {
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parseReply(%q) = %#v, invalid: %v", text, r, err)
		}
		if len(r.Lines) != strings.Count(text, "\r\n")+1 {
			t.Fatalf("parseReply(%q): %d lines", text, len(r.Lines))
		}
	})
}

func TestDecodeReplyCode(t *testing.T) {
	for _, tt := range []struct {
		data string
		ok   bool
	}{
		{"550 5.7.1 x\x00", true},
		{"550 x\x00", true},
		{"550 x", false},
		{"550\x00x\x00", false},
		{"", false},
	} {
		_, err := decodeReply(milter.Packet{Code: milter.RespReplyCode, Data: []byte(tt.data)})
		if (err == nil) != tt.ok {
			t.Errorf("decodeReply(%q) error %v, want ok=%v", tt.data, err, tt.ok)
		}
	}
}

func TestParseAddress(t *testing.T) {
	tests := []struct {
		in, network, address, err string
	}{
		{"unix:/run/milter.sock", "unix", "/run/milter.sock", ""},
		{"local:/run/m", "unix", "/run/m", ""},
		{"inet:8891@127.0.0.1", "tcp", "127.0.0.1:8891", ""},
		{"inet:8891@localhost", "tcp", "localhost:8891", ""},
		{"inet:127.0.0.1:8891", "tcp", "127.0.0.1:8891", ""},
		{"inet6:8891@::1", "tcp6", "[::1]:8891", ""},
		{"inet6:8891@[::1]", "tcp6", "[::1]:8891", ""},
		{"inet:8891", "", "", "want port@host"},
		{"inet:0@127.0.0.1", "", "", `bad port "0"`},
		{"inet:x@127.0.0.1", "", "", `bad port "x"`},
		{"inet:8891@", "", "", "empty host"},
		{"unix:", "", "", "empty socket path"},
		{"tcp:1@h", "", "", `unknown socket type "tcp"`},
		{"/run/m", "", "", "want unix:/path"},
	}
	for _, tt := range tests {
		n, a, err := ParseAddress(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseAddress(%q) error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.network || a != tt.address {
			t.Errorf("ParseAddress(%q) = %q, %q, %v; want %q, %q", tt.in, n, a, err, tt.network, tt.address)
		}
	}
}

func TestParseAction(t *testing.T) {
	for _, a := range []Action{TempFail, Accept, Reject, Quarantine, Shutdown} {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v", a.String(), got, err)
		}
	}
	if _, err := ParseAction("tmpfail"); err == nil || !strings.Contains(err.Error(), `unknown default action "tmpfail"`) {
		t.Errorf("ParseAction(tmpfail) error %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		opts Options
		err  string
	}{
		{Options{}, "no milter address"},
		{Options{Address: "inet:1"}, "want port@host"},
		{Options{Address: "unix:/m", DefaultAction: 9}, "bad default action"},
		{Options{Address: "unix:/m", Version: 7}, "protocol version 7 not in 2..6"},
		{Options{Address: "unix:/m", Macros: map[filter.Stage][]string{42: {"i"}}}, "unknown stage"},
	} {
		if _, err := New(tt.opts); err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("New(%+v) error %v, want %q", tt.opts, err, tt.err)
		}
	}
}

func TestNeeds(t *testing.T) {
	m, err := New(Options{Address: "unix:/m", DefaultAction: Quarantine, Actions: milter.ActAddHeader,
		Protocol: milter.ProtoAll &^ milter.ProtoRcptRej, Macros: map[filter.Stage][]string{filter.StageMail: {"i"}}})
	if err != nil {
		t.Fatal(err)
	}
	want := filter.Needs{
		Edits:              filter.EditAddHeader | filter.EditInsertHeader | filter.EditQuarantine,
		Macros:             map[filter.Stage][]string{filter.StageMail: {"i"}},
		HeaderLeadingSpace: true,
	}
	if got := m.Needs(); !reflect.DeepEqual(got, want) {
		t.Errorf("Needs() = %+v, want %+v", got, want)
	}
	m, _ = New(Options{Address: "unix:/m"})
	want = filter.Needs{Edits: filter.AllEdits, RejectedRecipients: true, HeaderLeadingSpace: true}
	if got := m.Needs(); !reflect.DeepEqual(got, want) {
		t.Errorf("default Needs() = %+v, want %+v", got, want)
	}
}

func TestBodySpool(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		memMax int
		want   string
		err    string
	}{
		{"crlf kept", []string{"a\r\nb\r\n"}, 100, "a\r\nb\r\n", ""},
		{"bare lf", []string{"a\nb\n"}, 100, "a\r\nb\r\n", ""},
		{"cr lf split across chunks", []string{"a\r", "\nb\n", "\n"}, 100, "a\r\nb\r\n\r\n", ""},
		{"leading lf", []string{"\nx"}, 100, "\r\nx", ""},
		{"bare cr kept", []string{"a\rb"}, 100, "a\rb", ""},
		{"empty", []string{""}, 100, "", ""},
		{"spills to a file", []string{"0123456789", "abc\n", "defghij"}, 8, "0123456789abc\r\ndefghij", ""},
		{"too large", []string{"0123456789", "0123456789", "01234"}, 8, "", "exceeds 24 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBodySpool(t.TempDir(), tt.memMax, 24)
			defer b.reset()
			r := b.reader()
			var err error
			for _, c := range tt.chunks {
				if err = b.writeCRLF([]byte(c)); err != nil {
					break
				}
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (b.f != nil) != (len(tt.want) > tt.memMax) {
				t.Errorf("spooled to a file: %v", b.f != nil)
			}
			got, err := io.ReadAll(r)
			if err != nil || string(got) != tt.want {
				t.Errorf("body %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
