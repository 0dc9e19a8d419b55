package headers

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

func TestNewErrors(t *testing.T) {
	long := strings.Repeat("a", maxLine-len("X-Long: ")+1)
	tests := []struct {
		name string
		opts Options
		want string // "" for success
	}{
		{"empty", Options{}, ""},
		{"valid", Options{Add: []Header{{"X-A", "b"}, {"X-Folded", "one\r\n\ttwo"}, {"X-Empty", ""}, {"X-Utf8", "héllo"}}, Remove: []string{"X-Spam"}}, ""},
		{"longest line", Options{Add: []Header{{"X-Long", long[1:]}}}, ""},
		{"empty name", Options{Add: []Header{{"", "b"}}}, "filter/headers: add 1: empty header name"},
		{"space in name", Options{Add: []Header{{"X A", "b"}}}, `filter/headers: add 1: header name "X A": character ' ' not allowed (printable ASCII except colon)`},
		{"colon in name", Options{Add: []Header{{"X-A", "b"}, {"X:A", "b"}}}, `filter/headers: add 2: header name "X:A": character ':' not allowed (printable ASCII except colon)`},
		{"non-ASCII name", Options{Add: []Header{{"X-É", "b"}}}, `filter/headers: add 1: header name "X-É": non-ASCII characters not allowed (printable ASCII except colon)`},
		{"NUL in value", Options{Add: []Header{{"X-A", "a\x00b"}}}, "filter/headers: add 1: header X-A: value contains NUL"},
		{"bare CR", Options{Add: []Header{{"X-A", "a\rb"}}}, "filter/headers: add 1: header X-A: value has CR or LF that is not folding (CRLF then space or tab)"},
		{"bare LF", Options{Add: []Header{{"X-A", "a\n b"}}}, "filter/headers: add 1: header X-A: value has CR or LF that is not folding (CRLF then space or tab)"},
		{"CRLF without WSP", Options{Add: []Header{{"X-A", "a\r\nb"}}}, "filter/headers: add 1: header X-A: value has CR or LF that is not folding (CRLF then space or tab)"},
		{"trailing CRLF", Options{Add: []Header{{"X-A", "a\r\n"}}}, "filter/headers: add 1: header X-A: value has CR or LF that is not folding (CRLF then space or tab)"},
		{"blank folded line", Options{Add: []Header{{"X-A", "a\r\n \r\n b"}}}, "filter/headers: add 1: header X-A: value has a folded line of only white space"},
		{"control char", Options{Add: []Header{{"X-A", "a\x1bb"}}}, `filter/headers: add 1: header X-A: value contains control character '\x1b'`},
		{"bad UTF-8", Options{Add: []Header{{"X-A", "a\xffb"}}}, "filter/headers: add 1: header X-A: value is not valid UTF-8"},
		{"line too long", Options{Add: []Header{{"X-Long", long}}}, "filter/headers: add 1: header X-Long: first line is 999 octets, over 998 (RFC 5322 §2.1.1)"},
		{"folded line too long", Options{Add: []Header{{"X-A", "a\r\n " + strings.Repeat("b", maxLine)}}}, "filter/headers: add 1: header X-A: folded line is 999 octets, over 998 (RFC 5322 §2.1.1)"},
		{"bad remove name", Options{Remove: []string{"X-A", "X-B:"}}, `filter/headers: remove 2: header name "X-B:": character ':' not allowed (printable ASCII except colon)`},
		{"duplicate remove", Options{Remove: []string{"X-Spam", "Subject", "x-SPAM"}}, `filter/headers: remove 3: "x-SPAM" repeats remove 1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := New(tt.opts)
			if tt.want == "" {
				if err != nil || f == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Fatalf("New error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestNewCopiesOptions(t *testing.T) {
	opts := Options{Add: []Header{{"X-A", "1"}}, Remove: []string{"X-B"}}
	f, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Add[0] = Header{"Bad:", "x"}
	opts.Remove[0] = "Bad:"
	got := run(t, f, nil)
	want := []string{"addheader X-A: 1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("edits = %q, want %q", got, want)
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		in      string
		want    Header
		wantErr string
	}{
		{in: "X-Filtered-By: sluice", want: Header{"X-Filtered-By", "sluice"}},
		{in: "X-A:b", want: Header{"X-A", "b"}},
		{in: "X-A: \t b c \t", want: Header{"X-A", "b c"}},
		{in: "X-A:", want: Header{"X-A", ""}},
		{in: "X-A: a: b", want: Header{"X-A", "a: b"}},
		{in: "X-A: one\n\ttwo\n", want: Header{"X-A", "one\r\n\ttwo"}},
		{in: "X-A: one\r\n two", want: Header{"X-A", "one\r\n two"}},
		{in: "no colon", wantErr: `filter/headers: "no colon" is not "Name: value"`},
		{in: "X-A : b", wantErr: `filter/headers: "X-A : b": white space before the colon`},
		{in: ": b", wantErr: "filter/headers: empty header name"},
		{in: " X-A: b", wantErr: `filter/headers: header name " X-A": character ' ' not allowed (printable ASCII except colon)`},
		{in: "X-A: one\ntwo", wantErr: "filter/headers: header X-A: value has CR or LF that is not folding (CRLF then space or tab)"},
		{in: "X-A: a\x00", wantErr: "filter/headers: header X-A: value contains NUL"},
	}
	for _, tt := range tests {
		h, err := ParseHeader(tt.in)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("ParseHeader(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || h != tt.want {
			t.Errorf("ParseHeader(%q) = %+v, %v; want %+v", tt.in, h, err, tt.want)
		}
	}
}

func TestNeeds(t *testing.T) {
	all := filter.AllStages
	none := map[filter.Stage][]string{} // reads no macro
	eom := filter.Stages(filter.StageEndOfMessage)
	hdr := filter.Stages(filter.StageHeader)
	tests := []struct {
		name string
		opts Options
		want filter.Needs
	}{
		{"nothing", Options{}, filter.Needs{Macros: none, Skip: all}},
		{"add", Options{Add: []Header{{"X-A", "b"}}}, filter.Needs{Macros: none, Skip: all &^ eom, Edits: filter.EditAddHeader}},
		{"remove", Options{Remove: []string{"X-A"}}, filter.Needs{Macros: none, Skip: all &^ (eom | hdr), NoReply: hdr, Edits: filter.EditChangeHeader}},
		{"both", Options{Add: []Header{{"X-A", "b"}}, Remove: []string{"X-A"}},
			filter.Needs{Macros: none, Skip: all &^ (eom | hdr), NoReply: hdr, Edits: filter.EditAddHeader | filter.EditChangeHeader}},
	}
	for _, tt := range tests {
		f, err := New(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Needs(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Needs = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

// message is one transaction: header fields as the MTA passes them.
type message [][2]string

// run drives one session through the given messages (nil: one message
// without headers) and returns the edits of each message, as strings, in
// order.
func run(t *testing.T, f *Filter, msgs []message) []string {
	t.Helper()
	ctx := context.Background()
	if msgs == nil {
		msgs = []message{nil}
	}
	s, err := f.NewSession(ctx, filter.NoMacros)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var out []string
	for _, msg := range msgs {
		for _, h := range msg {
			if v := s.Header(ctx, h[0], h[1]); v != filter.Continue {
				t.Fatalf("Header = %v", v)
			}
		}
		m := filter.NewModifier(f.Needs().Edits, nil)
		if v := s.EndOfMessage(ctx, m); v != filter.Continue {
			t.Fatalf("EndOfMessage = %v", v)
		}
		for _, e := range m.Edits() {
			out = append(out, e.String())
		}
	}
	return out
}

func TestSessionEdits(t *testing.T) {
	f, err := New(Options{
		Add:    []Header{{"X-Spam", "no"}, {"X-Filtered-By", "sluice"}},
		Remove: []string{"X-Spam", "received"},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msgs []message
		want []string
	}{
		{"no matching headers", []message{{{"Subject", "hi"}}},
			[]string{"addheader X-Spam: no", "addheader X-Filtered-By: sluice"}},
		{"every occurrence, highest first, any case", []message{{
			{"Received", "a"}, {"X-Spam", "yes"}, {"x-spam", "yes"}, {"Subject", "s"},
			{"RECEIVED", "b"}, {"X-Spam ", "trailing space"}, {"X-Spammer", "other"},
		}}, []string{
			"delheader X-Spam[3]", "delheader X-Spam[2]", "delheader X-Spam[1]",
			"delheader received[2]", "delheader received[1]",
			"addheader X-Spam: no", "addheader X-Filtered-By: sluice",
		}},
		{"counts reset after end of message", []message{
			{{"X-Spam", "1"}, {"X-Spam", "2"}},
			{{"X-Spam", "3"}},
		}, []string{
			"delheader X-Spam[2]", "delheader X-Spam[1]", "addheader X-Spam: no", "addheader X-Filtered-By: sluice",
			"delheader X-Spam[1]", "addheader X-Spam: no", "addheader X-Filtered-By: sluice",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := run(t, f, tt.msgs); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("edits =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestAbortResetsCounts(t *testing.T) {
	f, err := New(Options{Remove: []string{"X-Spam"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, _ := f.NewSession(ctx, filter.NoMacros)
	s.Header(ctx, "X-Spam", "1")
	s.Abort(ctx)
	s.Header(ctx, "X-Spam", "2")
	m := filter.NewModifier(f.Needs().Edits, nil)
	s.EndOfMessage(ctx, m)
	if got := m.Edits(); len(got) != 1 || got[0].String() != "delheader X-Spam[1]" {
		t.Fatalf("edits = %v, want one delheader X-Spam[1]", got)
	}
}

func TestUndeclaredEditTempFails(t *testing.T) {
	for _, opts := range []Options{{Add: []Header{{"X-A", "b"}}}, {Remove: []string{"X-A"}}} {
		f, err := New(opts)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s, _ := f.NewSession(ctx, filter.NoMacros)
		s.Header(ctx, "X-A", "1")
		if v := s.EndOfMessage(ctx, filter.NewModifier(0, nil)); v != filter.TempFail {
			t.Errorf("%+v: EndOfMessage with no edits allowed = %v, want tempfail", opts, v)
		}
	}
}
