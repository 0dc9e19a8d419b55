package smtpd

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
)

// Enhanced codes of recipient verification.
const (
	esUnknownUser     = "5.1.1" // RFC 3463 §3.2: bad destination mailbox address
	esTempUnknownUser = "4.1.1" // RFC 3463 §3.2, as a transient failure: cannot verify the mailbox now
)

// maxVerifyText bounds the downstream's text repeated to the client.
const maxVerifyText = 400

// RecipientVerifier tells whether the downstream takes a recipient, asked
// at RCPT time for the recipients of a relay domain (as Postfix's
// reject_unverified_recipient does), so that unknown users are refused
// while the client is connected rather than bounced later to a sender
// who is often forged (backscatter). The context bounds the answer
// (Timeouts.Verify) and ends with the session.
type RecipientVerifier interface {
	VerifyRecipient(ctx context.Context, rcpt envelope.Address) Verification
}

// VerifyStatus is what a RecipientVerifier found out.
type VerifyStatus int

// The statuses. The zero value is VerifyTempFail: a verifier that says
// nothing has not verified.
const (
	// VerifyTempFail: no definite answer (a 4xx reply, no connection, a
	// timeout); Options.VerifyOnError says what the client gets.
	VerifyTempFail VerifyStatus = iota
	// VerifyOK: the downstream takes the recipient.
	VerifyOK
	// VerifyRejected: the downstream refuses the recipient with a 5xx.
	VerifyRejected
)

// Verification is a RecipientVerifier's answer. For VerifyRejected,
// Enhanced and Text are the downstream's reply, repeated to the client
// (550, the enhanced code kept when it is a valid 5.x.x, else 5.1.1; the
// text stripped of control and non-ASCII characters).
type Verification struct {
	Status   VerifyStatus
	Code     int    // the downstream's reply code, 0 when it did not answer
	Enhanced string // the downstream's enhanced code, "" when none
	Text     string // the downstream's reply text
	Err      error  // why a VerifyTempFail, for the log
}

// VerifyErrorPolicy says what a recipient gets when its verification
// fails temporarily.
type VerifyErrorPolicy string

// The policies, named as in the configuration (smtp.verify_on_error).
const (
	// VerifyErrorTempfail answers 450 4.1.1: the client retries later.
	VerifyErrorTempfail VerifyErrorPolicy = "tempfail"
	// VerifyErrorAccept takes the recipient unverified.
	VerifyErrorAccept VerifyErrorPolicy = "accept"
)

// inRelayDomain reports whether addr's domain is one of RelayDomains.
func (s *session) inRelayDomain(addr string) bool {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return false
	}
	d := strings.TrimSuffix(strings.ToLower(addr[at+1:]), ".")
	for _, rd := range s.opts.RelayDomains {
		if d == rd || (strings.HasPrefix(rd, ".") && strings.HasSuffix(d, rd)) {
			return true
		}
	}
	return false
}

// verifyRcpt asks the RecipientVerifier about a recipient of a relay
// domain; it returns the reply refusing the recipient, or nil to go on.
// Recipients of other domains (relayed for trusted or authenticated
// clients) are not verified: the downstream is not their home.
func (s *session) verifyRcpt(to envelope.Address) *Error {
	if s.opts.RecipientVerifier == nil || !s.inRelayDomain(to.Addr) {
		return nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.Timeouts.Verify)
	v := s.opts.RecipientVerifier.VerifyRecipient(ctx, to)
	cancel()
	switch v.Status {
	case VerifyOK:
		return nil
	case VerifyRejected:
		return verifyRejection(to.Addr, v)
	}
	if s.opts.VerifyOnError == VerifyErrorAccept {
		s.log.Warn("smtpd: recipient not verified; accepted (verify_on_error = accept)", "to", to.Addr, "code", v.Code, "reply", v.Text, "err", v.Err)
		return nil
	}
	s.log.Warn("smtpd: recipient not verified", "to", to.Addr, "code", v.Code, "reply", v.Text, "err", v.Err)
	return errorf(codeMailboxBusy, esTempUnknownUser, "<"+to.Addr+">: Recipient address verification failed, try again later")
}

// verifyRejection is the reply to a recipient the downstream refused.
func verifyRejection(addr string, v Verification) *Error {
	enhanced := v.Enhanced
	if enhancedClass(enhanced) != 5 {
		enhanced = esUnknownUser
	}
	text := sanitizeReplyText(v.Text)
	if text == "" {
		text = "<" + addr + ">: Recipient address rejected: User unknown"
	}
	return errorf(codeMailboxDenied, enhanced, text)
}

// sanitizeReplyText makes a downstream's text safe to send as one reply
// line: printable ASCII only (others become '?'), runs of white space
// folded, at most maxVerifyText bytes.
func sanitizeReplyText(t string) string {
	var b strings.Builder
	space := false
	for _, r := range t {
		switch {
		case r == ' ' || r == '\t' || r == '\r' || r == '\n':
			space = b.Len() > 0
			continue
		case r < 0x21 || r > 0x7e:
			r = '?'
		}
		if b.Len() >= maxVerifyText {
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
