package smtpclient

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/test/peer"
	"github.com/sluice-mta/sluice/tls"
)

// The tests in this file put a real Postfix (Debian package postfix, run
// as root in a private instance by test/peer) between sluice's client and
// an smtp-sink: Postfix trusts the loopback client for XCLIENT or XFORWARD
// and relays to the sink, where the Received header Postfix wrote can be
// read.

const postfixWait = 90 * time.Second

// TestPostfixXClientXForward runs both extensions against Postfix.
//
// With XCLIENT, Postfix takes the original client as its own: the
// Received header and the log name 192.0.2.77 and its HELO name. XFORWARD
// only changes Postfix's logging (XFORWARD_README: "client-related logging
// attributes"); its smtpd writes the Received header from the real
// connection whatever was forwarded, so there the test checks the log line
// (orig_client=, orig_queue_id=) and that the header names the loopback
// connection, as Postfix documents.
func TestPostfixXClientXForward(t *testing.T) {
	tests := []struct {
		name     string
		param    string // main.cf parameter that trusts loopback
		received string // regexp for Postfix's Received header
		log      string // in Postfix's log
	}{
		{"XCLIENT", "smtpd_authorized_xclient_hosts",
			`^Received: from helo\.example\.net \(client\.example\.net \[192\.0\.2\.77\]\)\r\n\tby postfix\.test \(Postfix\) with ESMTP id `,
			": client=client.example.net[192.0.2.77]\n"},
		{"XFORWARD", "smtpd_authorized_xforward_hosts",
			`^Received: from sluice\.test \([^ ]+ \[127\.0\.0\.1\]\)\r\n\tby postfix\.test \(Postfix\) with ESMTP id `,
			", orig_queue_id=Q1, orig_client=client.example.net[192.0.2.77]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			peer.Need(t, "postfix", "smtp-sink")
			sink := peer.StartSink(t, peer.SinkOptions{})
			pf := peer.StartPostfix(t, peer.PostfixOptions{Relay: sink.Addr, Main: map[string]string{
				tt.param:        "127.0.0.0/8",
				"relay_domains": "example.net", // the original client is not in mynetworks
			}})
			c := newClient(t, Options{Address: "smtp://" + pf.Addr(), TLS: tls.PolicyNone, XClient: true, XForward: true})
			m := message("a@example.org", []string{"b@example.net"}, testContent)
			m.Client = origClient()
			wantResult(t, deliver(t, c, m)[0], envelope.Delivered, 250, "2.0.0", "Ok: queued as ")
			got := sink.WaitMessages(t, 1, postfixWait)[0]
			if received := firstHeader(string(got.Data), "Received"); !regexp.MustCompile(tt.received).MatchString(received) {
				t.Errorf("Postfix wrote\n%s\nwant it to match %s", received, tt.received)
			}
			header, body, _ := strings.Cut(string(got.Data), "\r\n\r\n")
			wantHeader, wantBody, _ := strings.Cut(testContent, "\r\n\r\n")
			if body != wantBody || !strings.Contains(header, wantHeader) {
				t.Errorf("relayed content:\n%s", got.Data)
			}
			var log string
			if !waitUntil(postfixWait, func() bool { log = pf.Log(t); return strings.Contains(log, tt.log) }) {
				t.Errorf("Postfix log lacks %q:\n%s", tt.log, log)
			}
		})
	}
}

// waitUntil polls cond for up to d.
func waitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
	return true
}

// firstHeader returns the first header field named name, with its folded
// continuation lines.
func firstHeader(msg, name string) string {
	lines := strings.SplitAfter(msg, "\r\n")
	for i, l := range lines {
		if !strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			continue
		}
		field := l
		for _, c := range lines[i+1:] {
			if !strings.HasPrefix(c, " ") && !strings.HasPrefix(c, "\t") {
				break
			}
			field += c
		}
		return field
	}
	return ""
}
