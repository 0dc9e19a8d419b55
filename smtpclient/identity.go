package smtpclient

import (
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/xclient"
)

// clientKnown reports whether the delivery carries an original client to
// forward; a message sluice made itself (a bounce) has none.
func clientKnown(c envelope.Conn) bool {
	return c.ClientAddr.IsValid() || c.ClientPath != "" || c.HELO != "" || c.ClientName != ""
}

// xclientFor returns the XCLIENT attributes for m and a key naming that
// identity; "" when XCLIENT is off or there is no client to forward.
func (c *Client) xclientFor(m *envelope.Delivery) (string, []xclient.Attr) {
	if !c.opts.XClient || !clientKnown(m.Client) {
		return "", nil
	}
	attrs := xclient.ClientAttrs(m.Client)
	var b strings.Builder
	for _, a := range attrs {
		fmt.Fprintf(&b, "%s=%s;", a.Name, a.Value)
	}
	return b.String(), attrs
}

// adopt makes the session speak for m's client: XCLIENT when it is wanted
// and advertised. It reports false when the session carries another
// client's identity that it cannot shed; the caller then uses a fresh
// connection.
func (s *session) adopt(m *envelope.Delivery) (bool, error) {
	want, attrs := s.cl.xclientFor(m)
	switch {
	case s.identity == want:
		return true, nil
	case want != "" && s.has("XCLIENT"):
		return true, s.xclient(m, want, attrs)
	}
	return s.identity == "", nil
}

// xclient sends the XCLIENT commands for attrs (those the server
// advertised) and greets again after each 220, with the original client's
// HELO name when it is one, as XCLIENT_README shows. A refusal is logged
// and the delivery goes on without it, as if XCLIENT were not offered.
func (s *session) xclient(m *envelope.Delivery, want string, attrs []xclient.Attr) error {
	lines, err := xclient.Commands(xclient.VerbXClient, xclient.Supported(attrs, s.ext["XCLIENT"]))
	if err != nil || len(lines) == 0 {
		if err != nil {
			s.cl.log.Warn("smtpclient: XCLIENT not sent", "queue_id", m.QueueID, "error", err)
		}
		return nil
	}
	for i, l := range lines {
		rep, err := s.cmd(stageXClient, l)
		if err != nil {
			return err
		}
		switch {
		case rep.Code == 220:
			if err := s.hello(heloAfterXClient(m.Client.HELO, s.cl.opts.HeloName)); err != nil {
				return err
			}
		case rep.Code/100 != 2:
			s.cl.log.Warn("smtpclient: XCLIENT refused; delivering without it", "queue_id", m.QueueID,
				"remote", s.cl.remote, "reply", rep.String())
			if i > 0 {
				s.identity = "partial:" + want // never matches: the next message sends XCLIENT again
			}
			return nil
		}
	}
	s.identity = want
	return nil
}

// heloAfterXClient picks the EHLO name after XCLIENT: the client's own
// when it can stand in an EHLO command, ours otherwise.
func heloAfterXClient(clientHelo, ours string) string {
	if clientHelo == "" || len(clientHelo) > 255 {
		return ours
	}
	for i := 0; i < len(clientHelo); i++ {
		if c := clientHelo[i]; c <= ' ' || c > '~' {
			return ours
		}
	}
	return clientHelo
}

// xforwardLines returns the XFORWARD commands for m when XFORWARD is
// enabled, advertised, and XCLIENT is not already carrying the client.
func (s *session) xforwardLines(m *envelope.Delivery) []string {
	if !s.cl.opts.XForward || !s.has("XFORWARD") || !clientKnown(m.Client) {
		return nil
	}
	if want, _ := s.cl.xclientFor(m); want != "" && s.identity == want {
		return nil
	}
	attrs := xclient.Supported(xclient.ForwardAttrs(m.Client, m.QueueID), s.ext["XFORWARD"])
	lines, err := xclient.Commands(xclient.VerbXForward, attrs)
	if err != nil {
		s.cl.log.Warn("smtpclient: XFORWARD not sent", "queue_id", m.QueueID, "error", err)
		return nil
	}
	return lines
}
