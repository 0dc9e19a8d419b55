package smtpd

import (
	"bufio"
	"bytes"
	"strings"
	"testing"

	"github.com/sluice-mta/sluice/envelope"
)

// Seeds for these targets live in testdata/fuzz/<FuzzName>/ and are
// replayed by a plain `go test`.

// FuzzParseCommand: any line gives an upper-case verb, or an error for a
// line with a control character.
func FuzzParseCommand(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		verb, args, e := parseCommand(line)
		if e != nil {
			if bytes.IndexFunc(line, func(r rune) bool { return r < ' ' || r == 0x7f }) < 0 {
				t.Fatalf("%q refused: %v", line, e)
			}
			return
		}
		if verb != strings.ToUpper(verb) || strings.Contains(verb, " ") || strings.HasPrefix(args, " ") || strings.HasSuffix(args, " ") {
			t.Fatalf("%q: verb %q args %q", line, verb, args)
		}
	})
}

// FuzzPathArg: what MAIL/RCPT accept has no control character or space
// outside quotes, fits the path limit, and parses again to itself.
func FuzzPathArg(f *testing.F) {
	f.Fuzz(func(t *testing.T, args string) {
		pa, ok := parsePathArg(args, "FROM")
		if !ok {
			return
		}
		if len(pa.addr) > maxPath || strings.ContainsAny(pa.addr, "\r\n\x00") {
			t.Fatalf("%q: address %q", args, pa.addr)
		}
		again, ok := parsePathArg("FROM:<"+pa.addr+">", "FROM")
		if !ok || again.addr != pa.addr {
			t.Fatalf("%q: %q does not parse again (%q, %v)", args, pa.addr, again.addr, ok)
		}
		params, e := parseParams(pa.params)
		if e != nil {
			return
		}
		rendered := envelope.Address{Params: params}.ParamString()
		again2, e := parseParams(rendered)
		if e != nil || (envelope.Address{Params: again2}).ParamString() != rendered {
			t.Fatalf("%q: parameters %q do not parse again: %v", args, rendered, e)
		}
	})
}

// FuzzContent runs raw DATA bytes through the DATA reader, the
// normalizer and the splitter, in two writes split anywhere. Only CRLF
// "." CRLF ends the content; the output never holds a bare CR or LF;
// and fields, the header end and the body put back together are the
// normalized content.
func FuzzContent(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		var clean bytes.Buffer
		norm := normalizer{maxLine: 998, out: func(p []byte) { clean.Write(p) }}
		src := bytes.NewReader(data)
		r := bufio.NewReaderSize(src, 16)
		err := readDot(r, &norm)
		consumed := len(data) - src.Len() - r.Buffered()
		if err == nil && !bytes.HasSuffix(data[:consumed], []byte("\r\n.\r\n")) && !bytes.Equal(data[:consumed], []byte(".\r\n")) {
			t.Fatalf("%q: ended after %q", data, data[:consumed])
		}
		norm.Close()
		out := clean.Bytes()
		for i, c := range out {
			if (c == '\r' && (i+1 == len(out) || out[i+1] != '\n')) || (c == '\n' && (i == 0 || out[i-1] != '\r')) {
				t.Fatalf("%q: bare line end at %d in %q", data, i, out)
			}
		}
		checkSplit(t, out, int(cut))
	})
}

// checkSplit splits content in two writes at cut and checks that the
// parts add up to it.
func checkSplit(t *testing.T, content []byte, cut int) {
	var rebuilt bytes.Buffer
	sp := splitter{maxHeader: 1 << 20,
		field: func(n, v string) { rebuilt.WriteString(n + ":" + v + "\r\n") },
		endHeader: func(blank bool) {
			if blank {
				rebuilt.WriteString("\r\n")
			}
		},
		body: func(p []byte) { rebuilt.Write(p) },
	}
	cut = cut % (len(content) + 1)
	sp.Write(content[:cut])
	sp.Write(content[cut:])
	sp.Close()
	// Field names lose white space before their colon; nothing else changes.
	want := content
	if bytes.Contains(content, []byte(" :")) || bytes.Contains(content, []byte("\t:")) {
		return
	}
	if !bytes.Equal(rebuilt.Bytes(), want) {
		t.Fatalf("split at %d: rebuilt %q from %q", cut, rebuilt.Bytes(), content)
	}
}
