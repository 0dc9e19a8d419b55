package queue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// TestDSNGlobal: a DSN about an SMTPUTF8 message, or naming a non-ASCII
// address, is an RFC 6533 one (global-delivery-status, message/global or
// message/global-headers, utf-8 addresses) queued with SMTPUTF8; an
// ASCII one keeps the RFC 3464 types.
func TestDSNGlobal(t *testing.T) {
	utf8Header := "From: j\u00f6rg@example.org\r\nSubject: gr\u00fc\u00dfe\r\n\r\n"
	tests := []struct {
		name       string
		from       string
		mail       string // MAIL parameters
		rcpt       string
		rcptParams string
		header     string
		answer     envelope.RcptResult
		wantType   string // report-type
		wantFields map[string]string
		wantPart   string // type of the returned part
		wantParams string // the DSN's MAIL parameters
	}{
		{"SMTPUTF8 message, success", "j\u00f6rg@example.org", "SMTPUTF8 BODY=8BITMIME", "\u00fc@example.org",
			`NOTIFY=SUCCESS ORCPT=utf-8;\x{FC}ber@example.org`, utf8Header, delivered(envelope.HandoffFinal),
			"global-delivery-status",
			map[string]string{"Original-Recipient": "utf-8; \u00fcber@example.org", "Final-Recipient": "utf-8; \u00fc@example.org",
				"Action": "delivered", "Status": "2.0.0"},
			"message/global-headers", "BODY=8BITMIME SMTPUTF8"},
		{"SMTPUTF8 message, ASCII addresses, bounce with RET=FULL", "a@example.org", "SMTPUTF8 RET=FULL", "b@example.org",
			"", utf8Header, failed("no such user"), "global-delivery-status",
			map[string]string{"Final-Recipient": "rfc822; b@example.org", "Action": "failed", "Status": "5.1.1",
				"Remote-MTA": "dns; mx.test", "Diagnostic-Code": "smtp; 550 5.1.1 no such user"},
			"message/global", "BODY=8BITMIME SMTPUTF8"},
		{"non-ASCII recipient without SMTPUTF8", "a@example.org", "", "\u00fc+tag=x@example.org",
			"", testHeader, failed("no such user"), "global-delivery-status",
			map[string]string{"Final-Recipient": `utf-8; ` + "\u00fc" + `\x{2B}tag\x{3D}x@example.org`, "Action": "failed",
				"Status": "5.1.1", "Remote-MTA": "dns; mx.test", "Diagnostic-Code": "smtp; 550 5.1.1 no such user"},
			"message/global-headers", "BODY=8BITMIME SMTPUTF8"},
		{"ASCII message with an ASCII utf-8 ORCPT", "a@example.org", "BODY=8BITMIME", "b@example.org",
			"NOTIFY=SUCCESS ORCPT=utf-8;b@example.org", testHeader, delivered(envelope.HandoffRelayed), "delivery-status",
			map[string]string{"Original-Recipient": "utf-8; b@example.org", "Final-Recipient": "rfc822; b@example.org",
				"Action": "relayed", "Status": "2.0.0", "Remote-MTA": "dns; mx.test", "Diagnostic-Code": "smtp; 250 2.0.0 ok"},
			"text/rfc822-headers", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := Record{From: envelope.Address{Addr: tt.from, Params: envelope.ParseParams(tt.mail)},
				Rcpts: []Rcpt{{Address: envelope.Address{Addr: tt.rcpt, Params: envelope.ParseParams(tt.rcptParams)}}}}
			body := "b\u00f6dy\r\n"
			dsn := queueAndReport(t, rec, tt.header, body, tt.answer)
			rep := parseDSN(t, dsn.content)
			if rep.reportType != tt.wantType {
				t.Errorf("report-type %q, want %q", rep.reportType, tt.wantType)
			}
			if len(rep.rcpts) != 1 {
				t.Fatalf("%d recipient blocks", len(rep.rcpts))
			}
			got := rep.rcpts[0]
			delete(got, "Last-Attempt-Date")
			if !equalMaps(got, tt.wantFields) {
				t.Errorf("recipient fields\n%v\nwant\n%v", got, tt.wantFields)
			}
			wantOriginal := tt.header
			if strings.HasSuffix(tt.wantPart, "global") || strings.HasSuffix(tt.wantPart, "rfc822") {
				wantOriginal += body
			}
			if rep.originalType != tt.wantPart || rep.original != wantOriginal {
				t.Errorf("returned part %q: %q, want %q: %q", rep.originalType, rep.original, tt.wantPart, wantOriginal)
			}
			if p := (envelope.Address{Params: dsn.d.From.Params}).ParamString(); p != tt.wantParams {
				t.Errorf("DSN MAIL parameters %q, want %q", p, tt.wantParams)
			}
			if strings.Join(dsn.to, ",") != tt.from || rep.header.Get("To") != "<"+tt.from+">" {
				t.Errorf("DSN to %v, To: %q; want %s", dsn.to, rep.header.Get("To"), tt.from)
			}
			wantEnc := ""
			if tt.wantType == "global-delivery-status" {
				wantEnc = "Content-Transfer-Encoding: 8bit\r\n"
			}
			if n := strings.Count(dsn.content, "Content-Type: message/global"); (n == 2) != (wantEnc != "") ||
				strings.Count(dsn.content, "Content-Type: message/global-delivery-status\r\n"+wantEnc) != n/2 {
				t.Errorf("global part headers (%d) in\n%s", n, dsn.content)
			}
		})
	}
}

// queueAndReport puts rec with header and body, runs the queue with a
// deliverer that answers answer for rec's recipients, and returns the
// DSN's delivery.
func queueAndReport(t *testing.T, rec Record, header, body string, answer envelope.RcptResult) fakeCall {
	t.Helper()
	rec.Arrived = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == rec.From.Addr {
			return delivered(envelope.HandoffRelayed)
		}
		return answer
	}}
	if _, err := q.Put(context.Background(), rec, []byte(header), strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "a DSN", func() bool { return len(f.callsFrom("")) > 0 })
	return f.callsFrom("")[0]
}

func TestDSNAddressEncoding(t *testing.T) {
	tests := []struct{ typ, addr, want string }{
		{"rfc822", "b@example.org", "rfc822; b@example.org"},
		{"rfc822", "\u00fc@example.org", "utf-8; \u00fc@example.org"},
		{"utf-8", "b@example.org", "utf-8; b@example.org"},
		{"utf-8", "\"a b\\c\"+d=e@\u4f8b.example", `utf-8; "a\x{20}b\x{5C}c"\x{2B}d\x{3D}e@` + "\u4f8b.example"},
		{"x400", "c=US;a=x", "x400; c=US;a=x"},
		{"utf-8", "bad\xffbyte@example.org", "utf-8; bad\ufffdbyte@example.org"},
	}
	for _, tt := range tests {
		if got := typedAddress(tt.typ, tt.addr); got != tt.want {
			t.Errorf("typedAddress(%q, %q) = %q, want %q", tt.typ, tt.addr, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		`\x{FC}ber@example.org`: "\u00fcber@example.org", `a\x{1F600}`: "a\U0001F600", `\x{2B}\x{3d}`: "+=",
		`\x{}`: `\x{}`, `\x{110000}`: `\x{110000}`, `\x{D800}`: `\x{D800}`, `\x{FC`: `\x{FC`, `\x{1234567}`: `\x{1234567}`,
		`\x{zz}`: `\x{zz}`, "plain": "plain",
	} {
		if got := unicodeUnescape(in); got != want {
			t.Errorf("unicodeUnescape(%q) = %q, want %q", in, got, want)
		}
	}
	a := envelope.Address{Params: envelope.ParseParams(`ORCPT=UTF-8;\x{FC}+2Bx@example.org`)}
	if typ, addr, ok := originalRecipient(a); !ok || typ != "utf-8" || addr != "\u00fc+x@example.org" {
		t.Errorf("originalRecipient: %q %q %v", typ, addr, ok)
	}
	if _, _, ok := originalRecipient(envelope.Address{Params: envelope.ParseParams("ORCPT=nosemicolon")}); ok {
		t.Error("an ORCPT without a type is used")
	}
}

// FuzzUnitext: utf-8-addr-unitext never holds a control character,
// space, "+" or "=", and decodes back to its (valid UTF-8) input. Seeds
// are in testdata/fuzz/FuzzUnitext.
func FuzzUnitext(f *testing.F) {
	f.Add("\u00fc+tag=x@example.org")
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\ufffd")
		enc := unitext(s)
		if strings.ContainsFunc(enc, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '+' || r == '=' }) {
			t.Fatalf("unitext(%q) = %q holds a forbidden character", s, enc)
		}
		if dec := unicodeUnescape(enc); dec != s {
			t.Fatalf("unicodeUnescape(unitext(%q)) = %q", s, dec)
		}
	})
}
