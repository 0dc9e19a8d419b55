package peer

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// dumpHead is the Received record smtp-sink writes after the X- records.
const dumpHead = "Received: from h ([127.0.0.1])\n" +
	"\tby smtp-sink (smtp-sink) with ESMTP id 0badcafe;\n" +
	"\tSun, 22 Nov 2026 00:00:00 +0000 (UTC)\n"

func TestParseDump(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Message // Raw is filled in from raw
	}{{
		name: "full",
		raw: "X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Helo-Args: client.test\n" +
			"X-Mail-Args: <a@example.org> SIZE=12 BODY=8BITMIME\n" +
			"X-Rcpt-Args: <b@example.net> ORCPT=rfc822;b@example.net\nX-Rcpt-Args: <c@example.net>\n" +
			dumpHead + "Subject: x\n\nbody\n.dot\n\n",
		want: Message{
			From: "a@example.org", To: []string{"b@example.net", "c@example.net"},
			MailArgs: "<a@example.org> SIZE=12 BODY=8BITMIME",
			RcptArgs: []string{"<b@example.net> ORCPT=rfc822;b@example.net", "<c@example.net>"},
			Helo:     "client.test", ClientAddr: "127.0.0.1", Proto: "ESMTP",
			Data: []byte("Subject: x\r\n\r\nbody\r\n.dot\r\n"),
		},
	}, {
		name: "null sender, no HELO, IPv6, empty content",
		raw: "X-Client-Addr: ipv6:::1\nX-Client-Proto: SMTP\nX-Mail-Args: <>\nX-Rcpt-Args: <postmaster>\n" +
			dumpHead + "\n",
		want: Message{
			From: "", To: []string{"postmaster"}, MailArgs: "<>", RcptArgs: []string{"<postmaster>"},
			ClientAddr: "ipv6:::1", Proto: "SMTP", Data: []byte{},
		},
	}, {
		name: "start string, quoted local part, no brackets",
		raw: "#start\nX-Client-Addr: 127.0.0.1\nX-Client-Proto: LMTP\nX-Helo-Args: h\n" +
			"X-Mail-Args: <\"a>\\\"b\"@example.org>\nX-Rcpt-Args: plain@example.net NOTIFY=NEVER\n" +
			dumpHead + "x\n",
		want: Message{
			From: `"a>\"b"@example.org`, To: []string{"plain@example.net"},
			MailArgs: `<"a>\"b"@example.org>`, RcptArgs: []string{"plain@example.net NOTIFY=NEVER"},
			Helo: "h", ClientAddr: "127.0.0.1", Proto: "LMTP", Data: []byte("x"),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDump([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Raw = []byte(tc.raw)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseDumpErrors(t *testing.T) {
	const head = "X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\n"
	tests := []struct{ name, raw, err string }{
		{"empty", "", "no X-Client-Addr: record"},
		{"no Received", head + "X-Mail-Args: <a@b>\n", "records end before the Received record"},
		{"no MAIL", head + dumpHead + "\n", "missing X-Client-Proto or X-Mail-Args record"},
		{"no proto", "X-Client-Addr: 127.0.0.1\nX-Mail-Args: <a@b>\n" + dumpHead + "\n", "missing X-Client-Proto or X-Mail-Args record"},
		{"two MAIL", head + "X-Mail-Args: <a@b>\nX-Mail-Args: <c@d>\n" + dumpHead + "\n", "two X-Mail-Args records"},
		{"unknown record", head + "X-Other: 1\n" + dumpHead + "\n", `unexpected dump record "X-Other: 1"`},
		{"bad sender", head + "X-Mail-Args: <a@b\n" + dumpHead + "\n", `X-Mail-Args: unterminated path in "<a@b"`},
		{"empty recipient", head + "X-Mail-Args: <>\nX-Rcpt-Args: \n" + dumpHead + "\n", "X-Rcpt-Args: no address"},
		{"short Received", head + "X-Mail-Args: <>\nReceived: from h\n\tby x\n", "Received record is not three lines"},
		{"unfinished content", head + "X-Mail-Args: <>\n" + dumpHead + "Subject: x", "content does not end with the newline of the final dot"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseDump([]byte(tc.raw))
			if err == nil || err.Error() != tc.err {
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func FuzzParseDump(f *testing.F) {
	f.Add([]byte("X-Client-Addr: 127.0.0.1\nX-Client-Proto: ESMTP\nX-Mail-Args: <a@b>\nX-Rcpt-Args: <c@d>\n" + dumpHead + "a\n\n"))
	f.Add([]byte("X-Client-Addr: 1\nX-Client-Proto: SMTP\nX-Mail-Args: <\"\\\n" + dumpHead))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := parseDump(raw)
		if err != nil {
			return
		}
		if len(m.To) != len(m.RcptArgs) || m.Proto == "" {
			t.Fatalf("To %q, RcptArgs %q, Proto %q", m.To, m.RcptArgs, m.Proto)
		}
		if !strings.Contains(m.MailArgs, m.From) {
			t.Fatalf("From %q is not in MailArgs %q", m.From, m.MailArgs)
		}
		// Every LF of the content is part of a CRLF, and the content is
		// the end of the dump with LF for CRLF and one newline less.
		if bytes.Count(m.Data, []byte("\n")) != bytes.Count(m.Data, []byte("\r\n")) {
			t.Fatalf("bare LF in Data %q", m.Data)
		}
		plain := bytes.ReplaceAll(m.Data, []byte("\r\n"), []byte("\n"))
		if !bytes.HasSuffix(raw, append(plain, '\n')) {
			t.Fatalf("Data %q is not the end of the dump", m.Data)
		}
	})
}
