package smtpclient

import (
	"bufio"
	"bytes"
	"testing"
)

// stuff runs content through a dataWriter in chunks of size n (0: one
// write) and returns what it wrote.
func stuff(t testing.TB, content []byte, n int) []byte {
	t.Helper()
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	dw := newDataWriter(bw)
	if n <= 0 {
		n = len(content) + 1
	}
	for p := content; len(p) > 0; {
		k := min(n, len(p))
		if w, err := dw.Write(p[:k]); err != nil || w != k {
			t.Fatalf("Write = %d, %v", w, err)
		}
		p = p[k:]
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestDataWriter(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ".\r\n"},
		{"CRLF lines", "a\r\nb\r\n", "a\r\nb\r\n.\r\n"},
		{"no final line end", "a\r\nb", "a\r\nb\r\n.\r\n"},
		{"bare LF", "a\nb\n", "a\r\nb\r\n.\r\n"},
		{"bare CR", "a\rb\r", "a\r\nb\r\n.\r\n"},
		{"CR CR LF", "a\r\r\nb", "a\r\n\r\nb\r\n.\r\n"},
		{"LF CR", "a\n\rb", "a\r\n\r\nb\r\n.\r\n"},
		{"dot lines", ".\r\n..\r\n.x\r\nx.\r\n", "..\r\n...\r\n..x\r\nx.\r\n.\r\n"},
		{"dot after bare LF", "a\n.\n", "a\r\n..\r\n.\r\n"},
		{"dot after bare CR", "a\r.b", "a\r\n..b\r\n.\r\n"},
		{"smuggling attempt", "x\n.\nMAIL FROM:<e@vil>\r\n", "x\r\n..\r\nMAIL FROM:<e@vil>\r\n.\r\n"},
		{"dot first, no line end", ".", "..\r\n.\r\n"},
	}
	for _, tt := range tests {
		for _, n := range []int{0, 1, 2, 3} {
			if got := stuff(t, []byte(tt.in), n); string(got) != tt.want {
				t.Errorf("%s (chunks of %d): got %q, want %q", tt.name, n, got, tt.want)
			}
		}
	}
}

// FuzzDataWriter checks the wire form of any content: every CR is
// followed by LF and every LF preceded by CR, it ends with CRLF.CRLF and
// holds that sequence nowhere else, chunking does not matter, and
// un-stuffing gives the content with normalized line ends.
func FuzzDataWriter(f *testing.F) {
	f.Fuzz(func(t *testing.T, content []byte, chunk uint8) {
		wire := stuff(t, content, int(chunk))
		if one := stuff(t, content, 0); !bytes.Equal(wire, one) {
			t.Fatalf("chunks of %d changed the output", chunk)
		}
		for i, c := range wire {
			if c == '\r' && (i+1 == len(wire) || wire[i+1] != '\n') || c == '\n' && (i == 0 || wire[i-1] != '\r') {
				t.Fatalf("bare CR or LF at %d in %q", i, wire)
			}
		}
		full := append([]byte("\r\n"), wire...)
		if end := bytes.Index(full, []byte("\r\n.\r\n")); end != len(full)-5 {
			t.Fatalf("end of data at %d of %d in %q", end, len(full), wire)
		}
		if got, want := unstuff(wire), normalize(content); !bytes.Equal(got, want) {
			t.Fatalf("un-stuffed %q, want %q", got, want)
		}
	})
}

// unstuff undoes dot-stuffing and removes the final dot line.
func unstuff(wire []byte) []byte {
	body := wire[:len(wire)-3]
	lines := bytes.SplitAfter(body, []byte("\r\n"))
	var out []byte
	for _, l := range lines {
		out = append(out, bytes.TrimPrefix(l, []byte("."))...)
	}
	return out
}

// normalize is the reference: every CRLF, bare CR and bare LF becomes
// CRLF, and a non-empty content ends with CRLF.
func normalize(in []byte) []byte {
	var out []byte
	for i := 0; i < len(in); i++ {
		switch c := in[i]; {
		case c == '\r' && i+1 < len(in) && in[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(out, []byte("\r\n")) {
		out = append(out, '\r', '\n')
	}
	return out
}
