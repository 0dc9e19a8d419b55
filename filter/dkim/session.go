package dkim

import (
	"context"
	"net/netip"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

const authResults = "Authentication-Results"

// session keeps one message of a connection.
type session struct {
	filter.Base
	f      *Filter
	macros filter.Macros
	client netip.Addr // from connect; invalid when unknown

	trusted bool           // the client may have its mail signed
	buf     spool          // header section, empty line, body
	inBody  bool           // the empty line was written
	from    []string       // values of the From fields
	names   map[string]int // occurrences of each field, by lower-case name
	arCount int            // Authentication-Results fields so far
	forged  []int          // those (1-based) claiming our authserv-id
}

// Connect notes the client's address for SignNetworks.
func (s *session) Connect(_ context.Context, c *envelope.Conn) filter.Verdict {
	s.client = c.ClientAddr.Addr().Unmap()
	return filter.Continue
}

// Mail starts a message and decides whether its client may sign.
func (s *session) Mail(context.Context, envelope.Address) filter.Verdict {
	s.reset()
	s.trusted = s.inNetworks()
	if !s.trusted && s.f.signAuth {
		if who, ok := s.macros.Macro("{auth_authen}"); ok && who != "" {
			s.trusted = true
		}
	}
	return filter.Continue
}

func (s *session) inNetworks() bool {
	return s.client.IsValid() && filter.Networks(s.f.networks).Contains(s.client)
}

// Header keeps the field as the MTA will write it (its value starts with
// the space after the colon) and notes what end of message needs.
func (s *session) Header(_ context.Context, name, value string) filter.Verdict {
	if s.keep() {
		s.buf.writeString(name + ":" + value + "\r\n")
	}
	if s.names == nil {
		s.names = map[string]int{}
	}
	lower := strings.ToLower(name)
	s.names[lower]++
	switch lower {
	case "from":
		s.from = append(s.from, value)
	case strings.ToLower(authResults):
		s.arCount++
		if s.f.verify && strings.EqualFold(authservID(value), s.f.authservID) {
			s.forged = append(s.forged, s.arCount)
		}
	}
	return filter.Continue
}

// Body keeps the chunk; past MaxMessageBytes it asks for no more.
func (s *session) Body(_ context.Context, chunk []byte) filter.Verdict {
	if !s.keep() {
		return filter.Skip
	}
	s.endHeaders()
	s.buf.write(chunk)
	if s.buf.over {
		return filter.Skip
	}
	return filter.Continue
}

// keep reports whether the message is of use: to verify, or to sign.
func (s *session) keep() bool { return s.f.verify || s.trusted }

func (s *session) endHeaders() {
	if !s.inBody {
		s.buf.writeString("\r\n")
		s.inBody = true
	}
}

// EndOfMessage signs the message when its client and From allow, else
// verifies it.
func (s *session) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	defer s.reset()
	s.endHeaders()
	id, _ := s.macros.Macro("i")
	log := s.f.log.With("id", id)
	if s.f.verify {
		// RFC 8601 §5: fields claiming to be ours are forged. Delete the
		// last first, so the indexes of the others hold.
		for i := len(s.forged) - 1; i >= 0; i-- {
			if err := m.DeleteHeader(authResults, s.forged[i]); err != nil {
				log.Error("dkim: deleting a forged Authentication-Results field", "err", err)
			}
		}
		if len(s.forged) > 0 {
			log.Info("dkim: deleted Authentication-Results fields claiming our authserv-id", "count", len(s.forged))
		}
	}
	keys := s.signingKeys()
	switch {
	case !s.f.verify && len(keys) == 0: // not trusted, or From not ours
		return filter.Continue
	case s.buf.over:
		log.Warn("dkim: message over max_message_bytes: neither verified nor signed", "max_message_bytes", s.f.maxBytes)
		return filter.Continue
	case s.buf.err != nil:
		log.Error("dkim: message not verified or signed", "err", s.buf.err)
		return filter.CustomReply(451, "4.3.0", "DKIM filter failure, try again later")
	case len(keys) > 0:
		return s.sign(ctx, m, keys, log)
	}
	return s.verify(ctx, m, log)
}

// Abort forgets the message.
func (s *session) Abort(context.Context) { s.reset() }

// Close releases the message kept.
func (s *session) Close(context.Context) { s.reset() }

func (s *session) reset() {
	s.buf.reset()
	s.inBody, s.from, s.arCount, s.forged = false, s.from[:0], 0, s.forged[:0]
	clear(s.names)
}
