package dmarc

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

const (
	fieldAuthResults = "Authentication-Results"
	fieldReceivedSPF = "Received-SPF"
)

// session is one connection and the header fields of its current
// message that the evaluation reads.
type session struct {
	filter.Base
	f      *Filter
	macros filter.Macros

	skip     bool   // not evaluated: the client is trusted
	sender   string // the envelope sender of the current message
	from     []string
	authRes  []string // values of Authentication-Results fields with our authserv-id
	spfField string   // value of the topmost Received-SPF field
	spfSeen  bool
}

// Connect decides whether the connection is evaluated at all.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	ip := c.ClientAddr.Addr().Unmap().WithZone("")
	s.skip = !c.ClientAddr.IsValid() || s.f.skip.Contains(ip) || c.AuthLogin != ""
	if s.skip {
		return filter.Accept
	}
	return filter.Continue
}

// Mail starts a message; an authenticated one is not evaluated.
func (s *session) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	s.reset()
	if login, _ := s.macros.Macro("auth_authen"); login != "" || s.skip {
		return filter.Accept
	}
	s.sender = from.Addr
	return filter.Continue
}

// Header keeps the fields the evaluation reads.
func (s *session) Header(_ context.Context, name, value string) filter.Verdict {
	switch {
	case strings.EqualFold(name, "From"):
		s.from = append(s.from, value)
	case strings.EqualFold(name, fieldAuthResults) && !s.f.ignoreAR:
		if id, _, ok := parseAuthResults(value); ok && strings.EqualFold(id, s.f.authservID) {
			s.authRes = append(s.authRes, value)
		}
	case strings.EqualFold(name, fieldReceivedSPF) && !s.f.ignoreSPF && !s.spfSeen:
		s.spfField, s.spfSeen = value, true
	}
	return filter.Continue
}

// EndOfMessage evaluates DMARC, adds the Authentication-Results field and
// acts on the result.
func (s *session) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	defer s.reset()
	if s.skip {
		return filter.Continue
	}
	o := s.f.evaluate(ctx, s.from, s.evidence())
	id, _ := s.macros.Macro("i")
	s.f.log.InfoContext(ctx, "dmarc", "id", id, "result", o.result, "from_domain", o.from,
		"policy", string(o.policy), "disposition", o.dis, "err", errText(o.err))
	switch {
	case o.dis == disReject:
		// RFC 3463 X.7.1: delivery not authorized, message refused.
		return filter.CustomReply(550, "5.7.1", "Rejected by the DMARC policy of "+o.from)
	case o.result == resultTempError && s.f.tempfail:
		// RFC 3463 X.4.3: directory server failure.
		return filter.CustomReply(451, "4.4.3", "DMARC evaluation failed for "+o.from+", try again later")
	}
	if err := m.InsertHeader(0, fieldAuthResults, formatResult(s.f.authservID, o)); err != nil {
		s.f.log.Error("dmarc: adding Authentication-Results", "err", err)
	}
	if o.dis == disQuarantine {
		if err := m.Quarantine("DMARC policy of " + o.from + ": quarantine"); err != nil {
			s.f.log.Error("dmarc: quarantining", "err", err)
		}
	}
	return filter.Continue
}

// evidence gathers what the earlier checks recorded.
func (s *session) evidence() evidence {
	var ev evidence
	for _, v := range s.authRes {
		_, results, _ := parseAuthResults(v)
		for _, r := range results {
			d, ok := normalizeDomain(r.props["header.d"])
			switch {
			case r.method != "dkim" || !ok:
			case r.result == resultPass:
				ev.dkimPass = append(ev.dkimPass, d)
			case r.result == resultTempError:
				ev.dkimTemp = append(ev.dkimTemp, d)
			}
		}
	}
	if s.spfSeen {
		ev.spfResult, ev.spfDomain = spfEvidence(s.spfField, s.sender)
	}
	return ev
}

// spfEvidence reads a Received-SPF value: its result and the domain it is
// about, when its envelope-from is sender (else it is no field of this
// transaction's check, and says nothing).
func spfEvidence(v, sender string) (result, domain string) {
	info, ok := parseReceivedSPF(v)
	if !ok || !info.hasFrom || !strings.EqualFold(info.envelopeFrom, sender) {
		return "", ""
	}
	id := info.identity
	if id == "" {
		id = "mailfrom"
		if sender == "" {
			id = "helo"
		}
	}
	var name string
	switch id {
	case "mailfrom":
		if i := strings.LastIndexByte(sender, '@'); i >= 0 {
			name = sender[i+1:]
		}
	case "helo":
		name = info.helo
	}
	d, ok := normalizeDomain(name)
	if !ok {
		return "", ""
	}
	return info.result, d
}

// Abort forgets the message.
func (s *session) Abort(context.Context) { s.reset() }

func (s *session) reset() {
	s.sender, s.from, s.authRes, s.spfField, s.spfSeen = "", s.from[:0], s.authRes[:0], "", false
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
