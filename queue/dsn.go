package queue

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
)

// dsnKind is what a delivery status notification (RFC 3464) reports.
type dsnKind uint8

const (
	dsnFailure dsnKind = iota // permanent failures and expiries: a bounce
	dsnDelay                  // recipients still being retried
	dsnSuccess                // deliveries and relays, for NOTIFY=SUCCESS (RFC 3461 §5.2)
)

// dsnRcpt is one reported recipient with its RFC 3464 §2.3.3 Action:
// failed, delayed, delivered or relayed.
type dsnRcpt struct {
	Rcpt
	action string
}

// dsnInput is what one notification reports.
type dsnInput struct {
	host      string  // Reporting-MTA
	orig      *Record // the message reported on
	kind      dsnKind
	rcpts     []dsnRcpt // the recipients reported, in record order
	now       time.Time
	until     time.Time // when the queue gives up (Will-Retry-Until of "delayed")
	maxReturn int64     // RET=FULL returns at most this much content
}

// dsnTypes are the media types of a report: RFC 3464 and RFC 3462 for
// an ASCII message, RFC 6533 for an internationalized one.
type dsnTypes struct {
	report   string // the report-type parameter of multipart/report
	status   string // the machine-readable part
	full     string // the returned message
	headers  string // the returned header section
	encoding string // Content-Transfer-Encoding of the last two parts; "" for none
}

var (
	asciiTypes  = dsnTypes{"delivery-status", "message/delivery-status", "message/rfc822", "text/rfc822-headers", ""}
	globalTypes = dsnTypes{"global-delivery-status", "message/global-delivery-status", "message/global", "message/global-headers", "8bit"}
)

// queueDSN builds the notification and queues it from the null sender to
// the original sender, streaming any returned content from the original's
// file. It returns the DSN's queue ID.
func (q *Queue) queueDSN(ctx context.Context, in dsnInput) (string, error) {
	full := in.returnFull()
	global := in.global()
	d, err := q.Create(ctx)
	if err != nil {
		return "", err
	}
	boundary := newBoundary()
	if err := q.writeDSNBody(d, in, boundary, full, global); err != nil {
		_ = d.Abort()
		return "", err
	}
	rec := Record{
		From:  envelope.Address{Params: dsnParams(in.orig, full, global)},
		Rcpts: []Rcpt{{Address: envelope.Address{Addr: in.orig.From.Addr}}},
	}
	return d.Commit(ctx, rec, dsnHeader(in, boundary, d.ID(), global))
}

// returnFull: the sender asked for the whole message (RET=FULL) and it is
// small enough and not binary.
func (in dsnInput) returnFull() bool {
	ret, _ := in.orig.From.Param("RET")
	body, _ := in.orig.From.Param("BODY")
	return strings.EqualFold(ret, "FULL") && in.orig.Size <= in.maxReturn && !strings.EqualFold(body, "BINARYMIME")
}

// global reports whether the notification must be an internationalized
// one (RFC 6533): the original was sent with SMTPUTF8, or an address it
// names (the sender, a reported recipient, an original recipient) is not
// ASCII.
func (in dsnInput) global() bool {
	if _, ok := in.orig.From.Param("SMTPUTF8"); ok || !isASCII(in.orig.From.Addr) {
		return true
	}
	for _, rc := range in.rcpts {
		if !isASCII(rc.Addr) {
			return true
		}
		if _, addr, ok := originalRecipient(rc.Address); ok && !isASCII(addr) {
			return true
		}
	}
	return false
}

// dsnParams are the DSN's MAIL parameters: 8BITMIME when it may carry
// 8-bit content of the original, and SMTPUTF8 with 8BITMIME for an
// internationalized notification (RFC 6533 §4).
func dsnParams(orig *Record, full, global bool) []envelope.Param {
	var ps []envelope.Param
	body, _ := orig.From.Param("BODY")
	if (full && strings.EqualFold(body, "8BITMIME")) || global {
		ps = append(ps, envelope.Param{Key: "BODY", Value: "8BITMIME"})
	}
	if global {
		ps = append(ps, envelope.Param{Key: "SMTPUTF8"})
	}
	return ps
}

func dsnHeader(in dsnInput, boundary, id string, global bool) []byte {
	subject := "Undelivered Mail Returned to Sender"
	switch in.kind {
	case dsnDelay:
		subject = "Delayed Mail (still being retried)"
	case dsnSuccess:
		subject = "Successful Mail Delivery Report"
	}
	types := asciiTypes
	if global {
		types = globalTypes
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", in.host)
	fmt.Fprintf(&b, "To: <%s>\r\n", in.orig.From.Addr)
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", in.now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.dsn@%s>\r\n", id, in.host)
	b.WriteString("Auto-Submitted: auto-replied\r\n") // RFC 3834 §5
	b.WriteString("MIME-Version: 1.0\r\n")
	fmt.Fprintf(&b, "Content-Type: multipart/report; report-type=%s;\r\n\tboundary=\"%s\"\r\n", types.report, boundary)
	b.WriteString("\r\n")
	return []byte(b.String())
}

// writeDSNBody writes the three parts of the report (RFC 6522): the
// human-readable explanation, the delivery-status fields, and the
// original's header section or whole content, with the RFC 3464 media
// types or, for a global notification, the RFC 6533 ones.
func (q *Queue) writeDSNBody(w io.Writer, in dsnInput, boundary string, full, global bool) error {
	types := asciiTypes
	if global {
		types = globalTypes
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "This is a MIME-encapsulated message.\r\n\r\n--%s\r\n", boundary)
	bw.WriteString("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n")
	bw.WriteString("Content-Description: Notification\r\n\r\n")
	bw.WriteString(humanText(in, full))
	fmt.Fprintf(bw, "\r\n--%s\r\n", boundary)
	fmt.Fprintf(bw, "Content-Type: %s\r\n", types.status)
	writeEncoding(bw, types.encoding)
	bw.WriteString("Content-Description: Delivery report\r\n\r\n")
	bw.WriteString(statusFields(in))
	fmt.Fprintf(bw, "\r\n--%s\r\n", boundary)
	what := "Undelivered message"
	if in.kind == dsnSuccess {
		what = "Original message"
	}
	if full {
		fmt.Fprintf(bw, "Content-Type: %s\r\n", types.full)
	} else {
		fmt.Fprintf(bw, "Content-Type: %s\r\n", types.headers)
		what += " headers"
	}
	writeEncoding(bw, types.encoding)
	fmt.Fprintf(bw, "Content-Description: %s\r\n\r\n", what)
	if err := q.copyOriginal(bw, in.orig, full); err != nil {
		return err
	}
	fmt.Fprintf(bw, "\r\n--%s--\r\n", boundary)
	return bw.Flush()
}

func writeEncoding(w *bufio.Writer, enc string) {
	if enc != "" {
		fmt.Fprintf(w, "Content-Transfer-Encoding: %s\r\n", enc)
	}
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
	switch in.kind {
	case dsnDelay:
		b.WriteString("This is a warning only; you do not need to send your message again.\r\n")
		b.WriteString("It has not been delivered yet to the recipients below. Delivery\r\n")
		fmt.Fprintf(&b, "will be retried until %s; you will hear again if it fails.\r\n\r\n", in.until.Format(time.RFC1123Z))
	case dsnSuccess:
		b.WriteString("This is a delivery report only, which you asked for; you do not need\r\n")
		b.WriteString("to do anything. Your message was delivered or relayed as follows.\r\n")
		writeAttached(&b, full)
	default:
		b.WriteString("Your message could not be delivered to the recipients below.\r\n")
		writeAttached(&b, full)
	}
	for _, rc := range in.rcpts {
		fmt.Fprintf(&b, "<%s>: %s\r\n", rc.Addr, reason(rc))
	}
	return b.String()
}

func writeAttached(b *strings.Builder, full bool) {
	if full {
		b.WriteString("The message is attached.\r\n\r\n")
	} else {
		b.WriteString("Its header section is attached.\r\n\r\n")
	}
}

// reason explains a recipient's state in words.
func reason(rc dsnRcpt) string {
	var s string
	switch {
	case rc.Reply.Code > 0 && rc.Reply.Remote != "":
		s = fmt.Sprintf("host %s said: %s", rc.Reply.Remote, replyString(rc.Reply))
	case rc.Reply.Code > 0 || rc.Reply.Text != "":
		s = replyString(rc.Reply)
	}
	switch {
	case rc.action == "delivered":
		return "delivered to the mailbox"
	case rc.action == "relayed" && rc.Reply.Code > 0:
		return "relayed to a system that sends no delivery reports; " + s
	case rc.action == "relayed":
		return "relayed to a system that sends no delivery reports"
	case rc.Expired && s == "":
		return "delivery time expired"
	case rc.Expired:
		return "delivery time expired; last error: " + s
	case s == "":
		return "no reason given"
	}
	return s
}

// statusFields renders the delivery-status content (RFC 3464 §2, RFC
// 6533 §4 for the global form): the per-message fields, then one block
// per recipient.
func statusFields(in dsnInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", in.host)
	if envid, ok := in.orig.From.Param("ENVID"); ok {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", cleanText(xtextDecode(envid)))
	}
	fmt.Fprintf(&b, "Arrival-Date: %s\r\n", in.orig.Arrived.Format(time.RFC1123Z))
	for _, rc := range in.rcpts {
		b.WriteString("\r\n")
		recipientFields(&b, rc, in)
	}
	return b.String()
}

// recipientFields renders one recipient's block (RFC 3464 §2.3).
func recipientFields(b *strings.Builder, rc dsnRcpt, in dsnInput) {
	if typ, addr, ok := originalRecipient(rc.Address); ok {
		fmt.Fprintf(b, "Original-Recipient: %s\r\n", typedAddress(typ, addr))
	}
	fmt.Fprintf(b, "Final-Recipient: %s\r\n", typedAddress("rfc822", rc.Addr))
	fmt.Fprintf(b, "Action: %s\r\n", rc.action)
	fmt.Fprintf(b, "Status: %s\r\n", dsnStatus(rc))
	if mta := remoteMTA(rc.Reply.Remote); mta != "" {
		fmt.Fprintf(b, "Remote-MTA: dns; %s\r\n", mta)
	}
	success := rc.action == "delivered" || rc.action == "relayed"
	if rc.Reply.Code > 0 {
		fmt.Fprintf(b, "Diagnostic-Code: smtp; %s\r\n", replyString(rc.Reply))
	} else if rc.Reply.Text != "" && !success { // a local success text names local paths
		fmt.Fprintf(b, "Diagnostic-Code: X-Sluice; %s\r\n", rc.Reply.Text)
	}
	if !rc.Reply.At.IsZero() {
		fmt.Fprintf(b, "Last-Attempt-Date: %s\r\n", rc.Reply.At.Format(time.RFC1123Z))
	}
	if rc.action == "delayed" {
		fmt.Fprintf(b, "Will-Retry-Until: %s\r\n", in.until.Format(time.RFC1123Z))
	}
}

// remoteMTA is the host name for Remote-MTA, "" for none or for a unix
// socket (not a DNS name, and a local path).
func remoteMTA(remote string) string {
	if strings.HasPrefix(remote, "unix:") {
		return ""
	}
	return remote
}

// dsnStatus is the RFC 3463 status of a reported recipient: 4.4.7 for
// an expired one (its Diagnostic-Code keeps the last reply), the reply's
// enhanced code when its class fits the action, else a generic code.
func dsnStatus(rc dsnRcpt) string {
	enh := rc.Reply.Enhanced
	switch {
	case rc.action == "delivered" || rc.action == "relayed":
		if strings.HasPrefix(enh, "2.") {
			return enh
		}
		return "2.0.0"
	case rc.Expired:
		return "4.4.7" // delivery time expired
	case rc.action == "delayed":
		if strings.HasPrefix(enh, "4.") {
			return enh
		}
		return "4.0.0"
	case strings.HasPrefix(enh, "5."):
		return enh
	}
	return "5.0.0"
}

// originalRecipient returns the address type and the decoded address of
// a recipient's ORCPT parameter (RFC 3461 §4.2: xtext; RFC 6533 §3:
// \x{HEX} escapes in a utf-8 address).
func originalRecipient(a envelope.Address) (typ, addr string, ok bool) {
	v, ok := a.Param("ORCPT")
	if !ok {
		return "", "", false
	}
	typ, enc, ok := strings.Cut(v, ";")
	if !ok {
		return "", "", false
	}
	typ = strings.TrimSpace(typ)
	addr = xtextDecode(enc)
	if strings.EqualFold(typ, "utf-8") {
		typ, addr = "utf-8", unicodeUnescape(addr)
	}
	return typ, addr, true
}

// typedAddress renders a Final-Recipient or Original-Recipient value: a
// non-ASCII address (or one of type utf-8) as RFC 6533 utf-8-addr-unitext,
// any other as "type; address".
func typedAddress(typ, addr string) string {
	if strings.EqualFold(typ, "utf-8") || !isASCII(addr) {
		return "utf-8; " + unitext(addr)
	}
	return typ + "; " + cleanText(addr)
}

// unitext encodes s as RFC 6533 utf-8-addr-unitext: UTF-8 as it is, the
// ASCII controls, space, "\", "+" and "=" as \x{HEX}.
func unitext(s string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r <= ' ' || r == 0x7f || r == '\\' || r == '+' || r == '=' {
			fmt.Fprintf(&b, "\\x{%02X}", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// unicodeUnescape undoes the RFC 6533 EmbeddedUnicodeChar escapes
// (\x{HEX}, 1 to 6 hex digits) of utf-8-addr-xtext and
// utf-8-addr-unitext; a bad escape is kept as it is.
func unicodeUnescape(s string) string {
	if !strings.Contains(s, `\x{`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.HasPrefix(s[i:], `\x{`) {
			if end := strings.IndexByte(s[i:], '}'); end > 3 && end <= 9 {
				if n, err := strconv.ParseUint(s[i+3:i+end], 16, 32); err == nil && utf8.ValidRune(rune(n)) {
					b.WriteRune(rune(n))
					i += end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// newBoundary returns a MIME boundary that cannot plausibly occur in the
// returned content.
func newBoundary() string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return "sluice-dsn-" + hex.EncodeToString(b[:])
}
