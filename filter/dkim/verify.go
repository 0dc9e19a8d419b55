package dkim

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mta/sluice/filter"
)

// Result values of RFC 8601 §2.7.1 that the filter writes.
const (
	resultPass      = "pass"
	resultFail      = "fail"
	resultNone      = "none"
	resultTempError = "temperror"
	resultPermError = "permerror"
)

// result is one signature's outcome.
type result struct {
	value    string
	domain   string // d=
	selector string // s=
	b        string // the start of b=
	reason   string // why, for all but pass
}

// verify checks the message's signatures, records them in an
// Authentication-Results field and returns the verdict they call for.
func (s *session) verify(ctx context.Context, m *filter.Modifier, log *slog.Logger) filter.Verdict {
	results := s.check(ctx)
	if err := m.InsertHeader(0, authResults, formatResults(s.f.authservID, results)); err != nil {
		log.Error("dkim: adding Authentication-Results", "err", err)
	}
	pass, temp, sigs := false, false, 0
	for _, r := range results {
		pass = pass || r.value == resultPass
		temp = temp || r.value == resultTempError
		if r.value != resultNone {
			sigs++
		}
	}
	log.Info("dkim: verified", "results", summary(results))
	switch {
	case pass || sigs == 0:
		return filter.Continue
	case temp && s.f.tempFailDNS:
		// RFC 3463 X.4.3: directory server failure.
		return filter.CustomReply(451, "4.4.3", "DKIM key lookup failed, try again later")
	case !temp && s.f.rejectFail:
		// RFC 7372 §3.1.
		return filter.CustomReply(550, "5.7.20", "No passing DKIM signature found")
	}
	return filter.Continue
}

// check verifies every signature of the message kept, at most
// MaxSignatures, with key lookups bounded by Timeout.
func (s *session) check(ctx context.Context) []result {
	ctx, cancel := context.WithTimeout(ctx, s.f.timeout)
	defer cancel()
	lookup := func(name string) ([]string, error) {
		txts, err := s.f.resolver.LookupTXT(ctx, name)
		return txts, classify(name, err)
	}
	verifs, err := dkim.VerifyWithOptions(s.buf.reader(), &dkim.VerifyOptions{
		LookupTXT: lookup, MaxVerifications: s.f.maxSigs,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return []result{{value: resultTempError, reason: err.Error()}}
	}
	if len(verifs) == 0 {
		return []result{{value: resultNone}}
	}
	tags := s.signatureTags()
	out := make([]result, len(verifs))
	for i, v := range verifs {
		r := result{value: resultPass, domain: v.Domain}
		if i < len(tags) {
			r.selector, r.b = tags[i]["s"], abbrev(tags[i]["b"])
			if r.domain == "" {
				r.domain = tags[i]["d"]
			}
		}
		switch {
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			r.value, r.reason = resultTempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			r.value, r.reason = resultPermError, v.Err.Error()
		default:
			r.value, r.reason = resultFail, v.Err.Error()
		}
		out[i] = r
	}
	return out
}

// signatureTags parses the DKIM-Signature fields of the message kept, in
// order, as go-msgauth finds them.
func (s *session) signatureTags() []map[string]string {
	var out []map[string]string
	h := readHeaderFields(s.buf.reader())
	for _, f := range h {
		if strings.EqualFold(f.Name, "DKIM-Signature") {
			out = append(out, parseTags(f.Value))
		}
	}
	return out
}

// abbrev is the start of a b= value that RFC 6008 header.b quotes.
func abbrev(b string) string {
	if len(b) > 8 {
		return b[:8]
	}
	return b
}

// lookupError is a key lookup failure as go-msgauth tells temporary
// failures from permanent ones: through net.Error's Temporary.
type lookupError struct {
	name      string
	err       error
	temporary bool
}

// Error is short, for the reason= of Authentication-Results: the name
// and what went wrong, without the resolver's address.
func (e *lookupError) Error() string {
	var dnsErr *net.DNSError
	switch {
	case !errors.As(e.err, &dnsErr):
		return e.name + ": " + e.err.Error()
	case dnsErr.IsTimeout:
		return e.name + ": timeout"
	case dnsErr.IsNotFound:
		return e.name + ": no such record"
	}
	return e.name + ": " + dnsErr.Err
}

func (e *lookupError) Unwrap() error   { return e.err }
func (e *lookupError) Timeout() bool   { return e.temporary }
func (e *lookupError) Temporary() bool { return e.temporary }

var _ net.Error = (*lookupError)(nil)

// classify makes every lookup failure temporary but "no such name" and
// "no such record" (RFC 6376 §6.1.2: a failure to answer is a TEMPFAIL,
// a missing key a PERMFAIL).
func classify(name string, err error) error {
	if err == nil {
		return nil
	}
	var dnsErr *net.DNSError
	notFound := errors.As(err, &dnsErr) && dnsErr.IsNotFound
	return &lookupError{name: name, err: err, temporary: !notFound}
}

// summary renders results for a log line.
func summary(results []result) string {
	parts := make([]string, len(results))
	for i, r := range results {
		parts[i] = r.value
		if r.domain != "" {
			parts[i] += " d=" + r.domain
		}
		if r.selector != "" {
			parts[i] += " s=" + r.selector
		}
		if r.reason != "" {
			parts[i] += " (" + r.reason + ")"
		}
	}
	return strings.Join(parts, "; ")
}
