package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/filter"
)

// mtSample is the message milter-test sends without --eml.
const mtSample = "From: Sender <sender@example.org>\r\n" +
	"To: Recipient <recipient@example.net>\r\n" +
	"Subject: sluice milter-test sample\r\n" +
	"Date: Mon, 01 Jan 2024 12:00:00 +0000\r\n" +
	"Message-ID: <sample@milter-test.invalid>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=us-ascii\r\n" +
	"\r\n" +
	"Hello,\r\n" +
	"\r\n" +
	"this is the sample message of sluice milter-test.\r\n"

// mtMessage is a message split as a milter sees it: header fields (the
// value as in the file after the colon: its leading space, folding as
// CRLF plus white space) and the body, CRLF line ends.
type mtMessage struct {
	headers []filter.HeaderField
	body    []byte
}

// parseEML splits a message file. Line ends become CRLF, as SMTP carries
// them (bare LF is turned into CRLF; CRLF and lone CR are kept); a
// leading mbox "From " line is dropped; everything else is kept byte for
// byte. The header section ends at the first empty line (without one, the
// whole file is the header section); each field starts with a name and a
// colon, and lines starting with a space or tab continue it.
func parseEML(b []byte) (*mtMessage, error) {
	b = toCRLF(b)
	if bytes.HasPrefix(b, []byte("From ")) {
		if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
			b = b[i+2:]
		} else {
			b = nil
		}
	}
	head, body := b, []byte(nil)
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		head, body = nil, b[2:]
	default:
		if i := bytes.Index(b, []byte("\r\n\r\n")); i >= 0 {
			head, body = b[:i+2], b[i+4:]
		}
	}
	fields, err := parseHeaderSection(string(head))
	if err != nil {
		return nil, err
	}
	return &mtMessage{headers: fields, body: body}, nil
}

// parseHeaderSection parses header lines, each ending in CRLF (the last
// may lack it).
func parseHeaderSection(s string) ([]filter.HeaderField, error) {
	var out []filter.HeaderField
	s = strings.TrimSuffix(s, "\r\n")
	if s == "" {
		return nil, nil
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("the header section contains NUL, which the milter protocol cannot carry")
	}
	for n, line := range strings.Split(s, "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if len(out) == 0 {
				return nil, fmt.Errorf("line %d: continuation line before any header field", n+1)
			}
			out[len(out)-1].Value += "\r\n" + line
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("line %d: not a header field (want Name: value): %q", n+1, mtCut(line))
		}
		out = append(out, filter.HeaderField{Name: name, Value: value})
	}
	return out, nil
}

// toCRLF turns every LF not preceded by CR into CRLF.
func toCRLF(b []byte) []byte {
	n := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n"))
	if n == 0 {
		return b
	}
	out := make([]byte, 0, len(b)+n)
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			out = append(out, '\r')
		}
		out = append(out, c)
	}
	return out
}

// render writes the message as it is delivered: each field as
// "Name:value" (values carry their leading space), an empty line, the
// body.
func (m *mtMessage) render() []byte {
	var b bytes.Buffer
	for _, f := range m.headers {
		b.WriteString(f.Name)
		b.WriteByte(':')
		b.WriteString(f.Value)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(m.body)
	return b.Bytes()
}

func mtCut(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
