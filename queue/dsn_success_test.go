package queue

import (
	"strings"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// delivered is a downstream's acceptance with the given handoff: a relay
// or DSN-capable MTA answers with a remote reply, a maildir without.
func delivered(h envelope.Handoff) envelope.RcptResult {
	if h == envelope.HandoffFinal {
		return envelope.RcptResult{Status: envelope.Delivered, Enhanced: "2.0.0", Text: "delivered to maildir as /var/mail/new/1", Handoff: h}
	}
	return envelope.RcptResult{Status: envelope.Delivered, Code: 250, Enhanced: "2.0.0", Text: "ok", Remote: "mx.test", Handoff: h}
}

func notify(v string) []envelope.Param { return []envelope.Param{{Key: "NOTIFY", Value: v}} }

// dsnRecipients returns the Final-Recipient of each recipient block.
func dsnRecipients(rep dsnReport) []string {
	var out []string
	for _, r := range rep.rcpts {
		out = append(out, r["Final-Recipient"])
	}
	return out
}

// TestDSNSuccessCases runs one message through the runner whose
// recipients cover each case of RFC 3461 §5.2 and checks which DSNs come
// out and to whom: a "relayed" one for a downstream without DSN, a
// "delivered" one for a final delivery, none for a downstream that took
// the DSN parameters, none without NOTIFY=SUCCESS; the successes settled
// together share one DSN and the failure has its own.
func TestDSNSuccessCases(t *testing.T) {
	rec := testRecord("passed@example.org", "relayed@example.org", "final@example.org", "unknown@example.org",
		"plain@example.org", "failonly@example.org", "never@example.org", "bounced@example.org")
	rec.From.Params = append(rec.From.Params, envelope.Param{Key: "ENVID", Value: "QQ+2B7"})
	rec.Arrived = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i, v := range []string{"SUCCESS", "SUCCESS,FAILURE", "SUCCESS", "SUCCESS,DELAY", "", "FAILURE", "NEVER", "SUCCESS,FAILURE"} {
		if v != "" {
			rec.Rcpts[i].Params = notify(v)
		}
	}
	rec.Rcpts[1].Params = append(rec.Rcpts[1].Params, envelope.Param{Key: "ORCPT", Value: "rfc822;Relayed+2Bx@example.org"})
	handoff := map[string]envelope.Handoff{"passed@example.org": envelope.HandoffPassedOn, "final@example.org": envelope.HandoffFinal,
		"unknown@example.org": envelope.HandoffUnknown}
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{answer: func(_ int, rcpt string) envelope.RcptResult {
		if rcpt == "bounced@example.org" {
			return failed("no such user")
		}
		h, ok := handoff[rcpt]
		if !ok {
			h = envelope.HandoffRelayed
		}
		return delivered(h)
	}}
	put(t, q, rec, "hello\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "the queue to empty", func() bool { return empty(q) && len(f.callsFrom("")) == 2 })
	time.Sleep(50 * time.Millisecond) // room for a wrong third DSN
	dsns := f.callsFrom("")
	if len(dsns) != 2 {
		t.Fatalf("%d DSNs, want 2 (a bounce and a success report)", len(dsns))
	}
	var bounce, success dsnReport
	for _, d := range dsns {
		if strings.Join(d.to, ",") != "a@example.org" || len(d.d.From.Params) != 0 {
			t.Errorf("DSN sent to %v with %v, want a@example.org without parameters", d.to, d.d.From.Params)
		}
		rep := parseDSN(t, d.content)
		if rep.rcpts[0]["Action"] == "failed" {
			bounce = rep
		} else {
			success = rep
		}
	}
	if got := dsnRecipients(bounce); strings.Join(got, ",") != "rfc822; bounced@example.org" {
		t.Errorf("bounce reports %v", got)
	}
	if success.header.Get("Subject") != "Successful Mail Delivery Report" || success.reportType != "delivery-status" {
		t.Errorf("success DSN: subject %q, report type %q", success.header.Get("Subject"), success.reportType)
	}
	wantMsg := map[string]string{"Reporting-MTA": "dns; mx.sluice.test", "Original-Envelope-Id": "QQ+7",
		"Arrival-Date": "Sat, 01 Mar 2025 12:00:00 +0000"}
	if !equalMaps(success.perMessage, wantMsg) {
		t.Errorf("per-message fields %v, want %v", success.perMessage, wantMsg)
	}
	if len(success.rcpts) != 3 {
		t.Fatalf("success DSN reports %v, want relayed, final, unknown", dsnRecipients(success))
	}
	at := success.rcpts[0]["Last-Attempt-Date"]
	want := []map[string]string{
		{"Original-Recipient": "rfc822; Relayed+x@example.org", "Final-Recipient": "rfc822; relayed@example.org",
			"Action": "relayed", "Status": "2.0.0", "Remote-MTA": "dns; mx.test", "Diagnostic-Code": "smtp; 250 2.0.0 ok",
			"Last-Attempt-Date": at},
		{"Final-Recipient": "rfc822; final@example.org", "Action": "delivered", "Status": "2.0.0", "Last-Attempt-Date": at},
		{"Final-Recipient": "rfc822; unknown@example.org", "Action": "relayed", "Status": "2.0.0", "Remote-MTA": "dns; mx.test",
			"Diagnostic-Code": "smtp; 250 2.0.0 ok", "Last-Attempt-Date": at},
	}
	for i, w := range want {
		if !equalMaps(success.rcpts[i], w) {
			t.Errorf("recipient %d fields\n%v\nwant\n%v", i, success.rcpts[i], w)
		}
	}
	if success.originalType != "text/rfc822-headers" || success.original != testHeader {
		t.Errorf("returned part %q: %q, want the header section", success.originalType, success.original)
	}
	wantHuman := "This is the sluice mail system at mx.sluice.test.\r\n\r\n" +
		"This is a delivery report only, which you asked for; you do not need\r\n" +
		"to do anything. Your message was delivered or relayed as follows.\r\n" +
		"Its header section is attached.\r\n\r\n" +
		"<relayed@example.org>: relayed to a system that sends no delivery reports; host mx.test said: 250 2.0.0 ok\r\n" +
		"<final@example.org>: delivered to the mailbox\r\n" +
		"<unknown@example.org>: relayed to a system that sends no delivery reports; host mx.test said: 250 2.0.0 ok\r\n"
	if success.human != wantHuman {
		t.Errorf("human part:\n%q\nwant\n%q", success.human, wantHuman)
	}
}

// TestDSNSuccessNotWanted: no success DSN to the null sender, nor for a
// downstream that took the DSN parameters; the message is removed.
func TestDSNSuccessNotWanted(t *testing.T) {
	tests := []struct {
		name    string
		from    string
		handoff envelope.Handoff
	}{
		{"null sender, relayed", "", envelope.HandoffRelayed},
		{"null sender, final", "", envelope.HandoffFinal},
		{"passed on", "a@example.org", envelope.HandoffPassedOn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := testRecord("b@example.org")
			rec.From.Addr = tt.from
			rec.Rcpts[0].Params = notify("SUCCESS,FAILURE")
			q := openTest(t, fastOptions())
			f := &fakeDeliverer{answer: func(int, string) envelope.RcptResult { return delivered(tt.handoff) }}
			put(t, q, rec, "x\r\n")
			runQueue(t, q, f, RunOptions{})
			waitFor(t, "the queue to empty", func() bool { return empty(q) && len(f.snapshot()) > 0 })
			time.Sleep(50 * time.Millisecond)
			if n := len(f.snapshot()); n != 1 {
				t.Errorf("%d deliveries, want 1 (no DSN)", n)
			}
		})
	}
}

// TestDSNSuccessSeparateAttempts: recipients delivered in different
// attempts get one DSN each; each DSN reports only its own.
func TestDSNSuccessSeparateAttempts(t *testing.T) {
	rec := testRecord("b@example.org", "c@example.org")
	rec.Rcpts[0].Params = notify("SUCCESS")
	rec.Rcpts[1].Params = notify("SUCCESS")
	q := openTest(t, fastOptions())
	f := &fakeDeliverer{answer: func(n int, rcpt string) envelope.RcptResult {
		if rcpt == "c@example.org" && n == 1 {
			return deferred("try later")
		}
		return delivered(envelope.HandoffFinal)
	}}
	put(t, q, rec, "x\r\n")
	runQueue(t, q, f, RunOptions{})
	waitFor(t, "two DSNs", func() bool { return empty(q) && len(f.callsFrom("")) == 2 })
	var got []string
	for _, d := range f.callsFrom("") {
		rep := parseDSN(t, d.content)
		got = append(got, strings.Join(dsnRecipients(rep), "+")+" "+rep.rcpts[0]["Action"])
	}
	if strings.Join(got, ", ") != "rfc822; b@example.org delivered, rfc822; c@example.org delivered" {
		t.Errorf("DSNs report %v", got)
	}
}

// TestDSNSuccessReturn: a success DSN honours RET like a bounce: FULL
// returns the message (within MaxReturnSize), HDRS and no RET the header
// section.
func TestDSNSuccessReturn(t *testing.T) {
	body := "the body\r\n"
	tests := []struct {
		ret       string
		maxReturn int64
		wantType  string
		want      string
	}{
		{"FULL", 0, "message/rfc822", testHeader + body},
		{"FULL", 10, "text/rfc822-headers", testHeader},
		{"HDRS", 0, "text/rfc822-headers", testHeader},
		{"", 0, "text/rfc822-headers", testHeader},
	}
	for _, tt := range tests {
		t.Run(tt.ret, func(t *testing.T) {
			rec := testRecord("b@example.org")
			if tt.ret != "" {
				rec.From.Params = append(rec.From.Params, envelope.Param{Key: "RET", Value: tt.ret})
			}
			rec.Rcpts[0].Params = notify("SUCCESS")
			_, content := dsnFor(t, Options{}, RunOptions{MaxReturnSize: tt.maxReturn}, rec, body,
				func(string) envelope.RcptResult { return delivered(envelope.HandoffRelayed) })
			rep := parseDSN(t, content)
			if rep.originalType != tt.wantType || rep.original != tt.want {
				t.Errorf("returned part %q: %q, want %q: %q", rep.originalType, rep.original, tt.wantType, tt.want)
			}
			attached := "Its header section is attached.\r\n"
			if tt.wantType == "message/rfc822" {
				attached = "The message is attached.\r\n"
			}
			if !strings.Contains(rep.human, attached) || rep.rcpts[0]["Action"] != "relayed" {
				t.Errorf("human part %q, fields %v", rep.human, rep.rcpts[0])
			}
		})
	}
}

// TestSuccessAction: the Action a delivered recipient is reported with,
// from its recorded handoff; an unknown one (the deliverer did not say,
// or a record from before handoffs were kept) counts as relayed.
func TestSuccessAction(t *testing.T) {
	tests := []struct {
		h    envelope.Handoff
		want string
	}{
		{envelope.HandoffRelayed, "relayed"},
		{envelope.HandoffUnknown, "relayed"},
		{envelope.HandoffPassedOn, ""},
		{envelope.HandoffFinal, "delivered"},
	}
	for _, tt := range tests {
		if got := successAction(tt.h); got != tt.want {
			t.Errorf("successAction(%v) = %q, want %q", tt.h, got, tt.want)
		}
	}
}

// TestFinishedRecord: a record is done when nothing is pending and every
// final state, success included, was notified or needed no notice.
func TestFinishedRecord(t *testing.T) {
	tests := []struct {
		rcpts []Rcpt
		want  bool
	}{
		{[]Rcpt{{State: Delivered, Notified: true}, {State: Failed, Notified: true}}, true},
		{[]Rcpt{{State: Delivered, Notified: true}, {State: Pending}}, false},
		{[]Rcpt{{State: Delivered}}, false}, // its success DSN is still owed
		{[]Rcpt{{State: Failed}}, false},
	}
	for i, tt := range tests {
		if got := finishedRecord(&Record{Rcpts: tt.rcpts}); got != tt.want {
			t.Errorf("case %d: finishedRecord = %v, want %v", i, got, tt.want)
		}
	}
}
