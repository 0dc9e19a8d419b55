package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sluice-mta/sluice/envelope"
)

// dsnInput is what a delivery status notification (RFC 3464) reports.
type dsnInput struct {
	host      string  // Reporting-MTA
	orig      *Record // the message reported on
	rcpts     []Rcpt  // the recipients reported
	action    string  // "failed" or "delayed"
	now       time.Time
	until     time.Time // when the queue gives up (Will-Retry-Until of "delayed")
	maxReturn int64     // RET=FULL returns at most this much content
}

// queueDSN builds the notification and queues it from the null sender to
// the original sender, streaming any returned content from the original's
// file. It returns the DSN's queue ID.
func (q *Queue) queueDSN(ctx context.Context, in dsnInput) (string, error) {
	full := in.returnFull()
	d, err := q.Create(ctx)
	if err != nil {
		return "", err
	}
	boundary := newBoundary()
	if err := q.writeDSNBody(d, in, boundary, full); err != nil {
		_ = d.Abort()
		return "", err
	}
	rec := Record{
		From:  envelope.Address{Params: dsnParams(in.orig, full)},
		Rcpts: []Rcpt{{Address: envelope.Address{Addr: in.orig.From.Addr}}},
	}
	return d.Commit(ctx, rec, dsnHeader(in, boundary, d.ID()))
}

// returnFull: the sender asked for the whole message (RET=FULL) and it is
// small enough and not binary.
func (in dsnInput) returnFull() bool {
	ret, _ := in.orig.From.Param("RET")
	body, _ := in.orig.From.Param("BODY")
	return strings.EqualFold(ret, "FULL") && in.orig.Size <= in.maxReturn && !strings.EqualFold(body, "BINARYMIME")
}

// dsnParams are the DSN's MAIL parameters: 8BITMIME when it may carry
// 8-bit content of the original, SMTPUTF8 when the original used it.
func dsnParams(orig *Record, full bool) []envelope.Param {
	var ps []envelope.Param
	body, _ := orig.From.Param("BODY")
	_, utf8 := orig.From.Param("SMTPUTF8")
	if (full && strings.EqualFold(body, "8BITMIME")) || utf8 {
		ps = append(ps, envelope.Param{Key: "BODY", Value: "8BITMIME"})
	}
	if utf8 {
		ps = append(ps, envelope.Param{Key: "SMTPUTF8"})
	}
	return ps
}

func dsnHeader(in dsnInput, boundary, id string) []byte {
	subject := "Undelivered Mail Returned to Sender"
	if in.action == "delayed" {
		subject = "Delayed Mail (still being retried)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", in.host)
	fmt.Fprintf(&b, "To: <%s>\r\n", in.orig.From.Addr)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", in.now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.dsn@%s>\r\n", id, in.host)
	b.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 §5
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"%s\"\r\n", boundary)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// writeDSNBody writes the three parts of the report (RFC 3462): the
// human-readable explanation, the message/delivery-status fields, and the
// original's header section (text/rfc822-headers) or whole content
// (message/rfc822).
func (q *Queue) writeDSNBody(w io.Writer, in dsnInput, boundary string, full bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n", boundary)
	bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	bw.WriteString("Content-Description: Notification\r\n\r\n")
	bw.WriteString(humanText(in, full))
	fmt.Fprintf(bw, "\r\n--%s\r\n", boundary)
	bw.WriteString("Content-Type: message/delivery-status\r\nContent-Description: Delivery report\r\n\r\n")
	bw.WriteString(statusFields(in))
	fmt.Fprintf(bw, "\r\n--%s\r\n", boundary)
	if full {
		bw.WriteString("Content-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n\r\n")
	} else {
		bw.WriteString("Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message headers\r\n\r\n")
	}
	if err := q.copyOriginal(bw, in.orig, full); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\r\n--%s--\r\n", boundary)
	return bw.Flush()
}

// copyOriginal streams the original's header section, and with full its
// body too.
func (q *Queue) copyOriginal(w io.Writer, orig *Record, full bool) error {
	rc, err := q.openContent(orig.ID, orig.Size, orig.HeaderSize)
	if err != nil {
		return fmt.Errorf("queue: content of %s for its DSN: %w", orig.ID, err)
	}
	defer rc.Close()
	n := orig.HeaderSize
	if full {
		n = orig.Size
	}
	if _, err := io.CopyN(w, rc, n); err != nil {
		return fmt.Errorf("queue: content of %s for its DSN: %w", orig.ID, err)
	}
	return nil
}

func humanText(in dsnInput, full bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the sluice mail system at %s.\r\n\r\n", in.host)
	if in.action == "delayed" {
		b.WriteString("This is a warning only; you do not need to send your message again.\r\n")
		b.WriteString("It has not been delivered yet to the recipients below. Delivery\r\n")
		fmt.Fprintf(&b, "will be retried until %s; you will hear again if it fails.\r\n\r\n", in.until.Format(time.RFC1123Z))
	} else {
		b.WriteString("Your message could not be delivered to the recipients below.\r\n")
		if full {
			b.WriteString("The message is attached.\r\n\r\n")
		} else {
			b.WriteString("Its header section is attached.\r\n\r\n")
		}
	}
	for _, rc := range in.rcpts {
		fmt.Fprintf(&b, "<%s>: %s\r\n", rc.Addr, reason(rc))
	}
	return b.String()
}

// reason explains a recipient's state in words.
func reason(rc Rcpt) string {
	var s string
	switch {
	case rc.Reply.Code > 0 && rc.Reply.Remote != "":
		s = fmt.Sprintf("host %s said: %s", rc.Reply.Remote, replyString(rc.Reply))
	case rc.Reply.Code > 0 || rc.Reply.Text != "":
		s = replyString(rc.Reply)
	}
	if rc.Expired {
		if s == "" {
			return "delivery time expired"
		}
		return "delivery time expired; last error: " + s
	}
	if s == "" {
		return "no reason given"
	}
	return s
}

// statusFields renders the message/delivery-status content (RFC 3464
// §2): the per-message fields, then one block per recipient.
func statusFields(in dsnInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", in.host)
	if envid, ok := in.orig.From.Param("ENVID"); ok {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", cleanText(xtextDecode(envid)))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.orig.Arrived.Format(time.RFC1123Z))
	for _, rc := range in.rcpts {
		b.WriteString("\r\n")
		if orcpt, ok := rc.Param("ORCPT"); ok {
			if typ, addr, ok := strings.Cut(orcpt, ";"); ok {
				fmt.Fprintf(&b, "Original-Recipient: %s;%s\r\n", typ, cleanText(xtextDecode(addr)))
			}
		}
		fmt.Fprintf(&b, "Final-Recipient: rfc822; %s\r\n", rc.Addr)
		fmt.Fprintf(&b, "Action: %s\r\n", in.action)
		fmt.Fprintf(&b, "Status: %s\r\n", dsnStatus(rc, in.action))
		if rc.Reply.Remote != "" {
			fmt.Fprintf(&b, "Remote-MTA: dns; %s\r\n", rc.Reply.Remote)
		}
		if rc.Reply.Code > 0 {
			fmt.Fprintf(&b, "Diagnostic-Code: smtp; %s\r\n", replyString(rc.Reply))
		} else if rc.Reply.Text != "" {
			fmt.Fprintf(&b, "Diagnostic-Code: X-Sluice; %s\r\n", rc.Reply.Text)
		}
		if !rc.Reply.At.IsZero() {
			fmt.Fprintf(&b, "Last-Attempt-Date: %s\r\n", rc.Reply.At.Format(time.RFC1123Z))
		}
		if in.action == "delayed" {
			fmt.Fprintf(&b, "Will-Retry-Until: %s\r\n", in.until.Format(time.RFC1123Z))
		}
	}
	return b.String()
}

// dsnStatus is the RFC 3463 status of a reported recipient: 4.4.7 for
// an expired one (its Diagnostic-Code keeps the last reply), the reply's
// enhanced code when its class fits the action, else a generic code.
func dsnStatus(rc Rcpt, action string) string {
	enh := rc.Reply.Enhanced
	switch {
	case rc.Expired:
		return "4.4.7" // delivery time expired
	case action == "delayed":
		if strings.HasPrefix(enh, "4.") {
			return enh
		}
		return "4.0.0"
	case strings.HasPrefix(enh, "5."):
		return enh
	}
	return "5.0.0"
}

// xtextDecode undoes RFC 3461 §4 xtext ("+2B" is "+"); a bad escape is
// kept as it is.
func xtextDecode(s string) string {
	if !strings.Contains(s, "+") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '+' && i+2 < len(s) {
			if v, err := hex.DecodeString(s[i+1 : i+3]); err == nil {
				b.WriteByte(v[0])
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// newBoundary returns a MIME boundary that cannot plausibly occur in the
// returned content.
func newBoundary() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "sluice-dsn-" + hex.EncodeToString(b[:])
}
