package smtpd

import (
	"bufio"
	"io"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/filter"
)

func TestReadDot(t *testing.T) {
	tests := []struct {
		in, content, rest string
		err               error
	}{
		{".\r\nNEXT", "", "NEXT", nil},
		{"a\r\n.\r\nNEXT", "a\r\n", "NEXT", nil},
		{"..a\r\n..\r\n.\r\n", ".a\r\n.\r\n", "", nil},
		{"a\n.\nb\r\n.\r\n", "a\n.\nb\r\n", "", nil},
		{"a\r.\rb\r\n.\r\n", "a\r.\rb\r\n", "", nil},
		{"a\r\n.\nb\r\n.\r\n", "a\r\n\nb\r\n", "", nil}, // the dot starts a CRLF line: unstuffed
		{"a\r\n.\rb\r\n.\r\n", "a\r\n\rb\r\n", "", nil},
		{"a\n.\r\nb\r\n.\r\n", "a\n.\r\nb\r\n", "", nil},
		{"a\r\n. \r\n.\r\n", "a\r\n \r\n", "", nil},
		{"no end\r\n", "no end\r\n", "", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		r := bufio.NewReader(strings.NewReader(tt.in))
		var out strings.Builder
		err := readDot(r, &out)
		rest, _ := io.ReadAll(r)
		if out.String() != tt.content || string(rest) != tt.rest || err != tt.err {
			t.Errorf("readDot(%q) = %q, rest %q, %v; want %q, %q, %v", tt.in, out.String(), rest, err, tt.content, tt.rest, tt.err)
		}
	}
	// A CRLF split by a full buffer still ends the content.
	in := strings.Repeat("x", 15) + "\r\n.\r\nNEXT"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	var out strings.Builder
	if err := readDot(r, &out); err != nil || out.String() != strings.Repeat("x", 15)+"\r\n" {
		t.Fatalf("split CRLF: %q %v", out.String(), err)
	}
}

func TestNormalizer(t *testing.T) {
	tests := []struct {
		chunks     []string
		out        string
		bare, long bool
	}{
		{[]string{"a\r\nb\r\n"}, "a\r\nb\r\n", false, false},
		{[]string{"a\r", "\nb\r\n"}, "a\r\nb\r\n", false, false},
		{[]string{"a\nb\rc\r\r\n"}, "a\r\nb\r\nc\r\n\r\n", true, false},
		{[]string{"a\r"}, "a\r\n", true, false},
		{[]string{"no end"}, "no end\r\n", false, false},
		{[]string{"12345678\r\n"}, "12345678\r\n", false, false},
		{[]string{"1234", "56789\r\n"}, "123456789\r\n", false, true},
	}
	for _, tt := range tests {
		var out strings.Builder
		n := normalizer{maxLine: 8, out: func(p []byte) { out.Write(p) }}
		for _, c := range tt.chunks {
			_, _ = n.Write([]byte(c))
		}
		n.Close()
		if out.String() != tt.out || n.bare != tt.bare || n.long != tt.long || n.size != int64(len(tt.out)) {
			t.Errorf("%q: %q bare %v long %v size %d; want %q bare %v long %v", tt.chunks, out.String(), n.bare, n.long, n.size, tt.out, tt.bare, tt.long)
		}
	}
}

func TestSplitter(t *testing.T) {
	tests := []struct {
		in     string
		fields []string
		blank  bool
		body   string
	}{
		{"A: 1\r\nB:2\r\n\t3\r\n\r\nbody\r\n", []string{"A| 1", "B|2\r\n\t3"}, true, "body\r\n"},
		{"A: 1\r\nnot a field\r\nmore\r\n", []string{"A| 1"}, false, "not a field\r\nmore\r\n"},
		{" starts folded\r\n", nil, false, " starts folded\r\n"},
		{"A : x\r\n", []string{"A| x"}, false, ""},
		{"", nil, false, ""},
	}
	for _, tt := range tests {
		var fields []string
		var body strings.Builder
		blank, ended := false, false
		sp := splitter{maxHeader: 1000,
			field:     func(n, v string) { fields = append(fields, n+"|"+v) },
			endHeader: func(b bool) { blank, ended = b, true },
			body:      func(p []byte) { body.Write(p) },
		}
		for i := 0; i < len(tt.in); i++ { // byte by byte: the worst split
			sp.Write([]byte{tt.in[i]})
		}
		sp.Close()
		if strings.Join(fields, ";") != strings.Join(tt.fields, ";") || blank != tt.blank || !ended || body.String() != tt.body {
			t.Errorf("%q: fields %q blank %v body %q", tt.in, fields, blank, body.String())
		}
	}
}

func TestParsePathArg(t *testing.T) {
	tests := []struct {
		args, addr, params string
		ok, nonASCII       bool
	}{
		{"FROM:<a@b.example>", "a@b.example", "", true, false},
		{"from: <a@b.example>  SIZE=1 BODY=8BITMIME ", "a@b.example", "SIZE=1 BODY=8BITMIME", true, false},
		{"FROM:<>", "", "", true, false},
		{"FROM:<@x.example,@y.example:a@b.example>", "a@b.example", "", true, false},
		{"FROM:<\"a>b\"@b.example>", "\"a>b\"@b.example", "", true, false},
		{"FROM:<ü@b.example>", "ü@b.example", "", true, true},
		{"FROM:<a@b.example>x", "", "", false, false},
		{"FROM:a@b.example", "", "", false, false},
		{"FROM<a@b.example>", "", "", false, false},
		{"FROM:<a@b.example", "", "", false, false},
		{"FROM:<.a@b.example>", "", "", false, false},
		{"FROM:<a@-b.example>", "", "", false, false},
		{"FROM:<a@b..example>", "", "", false, false},
		{"FROM:<a@[IPv6:2001:db8::1]>", "a@[IPv6:2001:db8::1]", "", true, false},
		{"FROM:<" + strings.Repeat("a", 250) + "@b.example>", "", "", false, false},
	}
	for _, tt := range tests {
		pa, ok := parsePathArg(tt.args, "FROM")
		if ok != tt.ok || (ok && (pa.addr != tt.addr || pa.params != tt.params || pa.nonASCII != tt.nonASCII)) {
			t.Errorf("parsePathArg(%q) = %+v, %v", tt.args, pa, ok)
		}
	}
}

func TestAppendValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{" plain", " plain"},
		{" a\r\n\tb", " a\r\n\tb"},
		{" a\nb", " a\r\n b"},
		{" a\r\rb\r\n\r\n c", " a\r\n b\r\n c"},
		{"", ""},
		{" a\r\n", " a"},
	}
	for _, tt := range tests {
		if got := string(appendValue(nil, tt.in)); got != tt.want {
			t.Errorf("appendValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorValid(t *testing.T) {
	tests := []struct {
		e    Error
		want bool
	}{
		{Error{Code: 452, Enhanced: "4.3.1"}, true},
		{Error{Code: 452, Enhanced: "5.3.1"}, false},
		{Error{Code: 550, Enhanced: "5.7.1"}, true},
		{Error{Code: 250, Enhanced: "2.0.0"}, false},
		{Error{Code: 550, Enhanced: "5.7"}, false},
		{Error{Code: 550, Enhanced: "5.7.1000"}, false},
		{Error{Code: 550, Enhanced: "5.7.1", Message: "a\r\nb"}, false},
	}
	for _, tt := range tests {
		if got := tt.e.valid(); got != tt.want {
			t.Errorf("%+v valid = %v", tt.e, got)
		}
	}
}

// TestRenderHeader checks the final header section of a message whose
// fields were edited with bad line ends.
func TestRenderHeader(t *testing.T) {
	got := renderHeader("Received: x\r\n", []filter.HeaderField{{Name: "A", Value: " 1"}, {Name: "B", Value: " 2\nC: 3"}})
	if want := "Received: x\r\nA: 1\r\nB: 2\r\n C: 3\r\n\r\n"; string(got) != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
