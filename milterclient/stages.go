package milterclient

import (
	"context"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// Connect implements filter.Session: SMFIC_CONNECT with the client's
// name, address family, port and address.
func (s *Session) Connect(ctx context.Context, conn *envelope.Conn) filter.Verdict {
	if v, stop := s.gate(filter.StageConnect); stop {
		return v
	}
	return s.exchange(ctx, filter.StageConnect, connectCommand(conn))
}

// connectCommand builds SMFIC_CONNECT as Postfix does: the client's name,
// or "[address]" when it has none.
func connectCommand(c *envelope.Conn) milter.Connect {
	if c == nil {
		return milter.Connect{Hostname: "unknown", Family: milter.FamilyUnknown}
	}
	cmd := milter.Connect{Hostname: c.ClientName, Family: byte(c.Family)}
	addr := c.ClientAddr.Addr()
	if cmd.Family == 0 {
		switch {
		case c.ClientPath != "":
			cmd.Family = milter.FamilyUnix
		case addr.Is4() || addr.Is4In6():
			cmd.Family = milter.FamilyInet
		case addr.Is6():
			cmd.Family = milter.FamilyInet6
		default:
			cmd.Family = milter.FamilyUnknown
		}
	}
	switch cmd.Family {
	case milter.FamilyInet, milter.FamilyInet6:
		if !addr.IsValid() {
			cmd.Family = milter.FamilyUnknown
			break
		}
		if cmd.Family == milter.FamilyInet {
			addr = addr.Unmap()
		}
		cmd.Port, cmd.Address = c.ClientAddr.Port(), addr.String()
	case milter.FamilyUnix:
		cmd.Address = c.ClientPath
	default:
		cmd.Family = milter.FamilyUnknown
	}
	if cmd.Hostname == "" {
		cmd.Hostname = "unknown"
		if cmd.Address != "" && cmd.Family != milter.FamilyUnix {
			cmd.Hostname = "[" + cmd.Address + "]"
		}
	}
	return cmd
}

// Helo implements filter.Session: SMFIC_HELO. A HELO inside a transaction
// (after STARTTLS) is preceded by SMFIC_ABORT.
func (s *Session) Helo(ctx context.Context, name string) filter.Verdict {
	if v, stop := s.gate(filter.StageHelo); stop {
		return v
	}
	if err := s.queueAbort(); err != nil {
		return s.fail(filter.StageHelo, err)
	}
	return s.exchange(ctx, filter.StageHelo, milter.Helo{Name: name})
}

// Mail implements filter.Session: SMFIC_MAIL with the sender and its ESMTP
// arguments. A new transaction on the same connection is preceded by
// SMFIC_ABORT, as Postfix does.
func (s *Session) Mail(ctx context.Context, from envelope.Address) filter.Verdict {
	s.startMessage()
	if v, stop := s.gate(filter.StageMail); stop {
		return v
	}
	if err := s.queueAbort(); err != nil {
		return s.fail(filter.StageMail, err)
	}
	return s.exchange(ctx, filter.StageMail, milter.Mail{Args: envelopeArgs(from)})
}

// Rcpt implements filter.Session: SMFIC_RCPT with the recipient and its
// ESMTP arguments. A recipient the MTA has rejected (macro {rcpt_mailer}
// is "error") is sent only to a milter that asked for SMFIP_RCPT_REJ.
func (s *Session) Rcpt(ctx context.Context, to envelope.Address) filter.Verdict {
	if v, stop := s.gate(filter.StageRcpt); stop {
		return v
	}
	if m, ok := s.macros.Macro("rcpt_mailer"); ok && m == "error" && !s.neg.has(milter.ProtoRcptRej) {
		return filter.Continue
	}
	return s.exchange(ctx, filter.StageRcpt, milter.Rcpt{Args: envelopeArgs(to)})
}

// envelopeArgs renders an address as SMFIC_MAIL/RCPT arguments: "<addr>"
// then each ESMTP parameter, all of them.
func envelopeArgs(a envelope.Address) []string {
	args := make([]string, 0, 1+len(a.Params))
	args = append(args, "<"+a.Addr+">")
	for _, p := range a.Params {
		if p.Value == "" {
			args = append(args, p.Key)
		} else {
			args = append(args, p.Key+"="+p.Value)
		}
	}
	return args
}

// Data implements filter.Session: SMFIC_DATA (protocol version 4 and up).
func (s *Session) Data(ctx context.Context) filter.Verdict {
	if v, stop := s.gate(filter.StageData); stop {
		return v
	}
	return s.exchange(ctx, filter.StageData, milter.Data{})
}

// Header implements filter.Session: SMFIC_HEADER. The session asks for
// values verbatim (Needs.HeaderLeadingSpace); for a milter without
// SMFIP_HDR_LEADSPC one leading space is removed, as Sendmail and Postfix
// do. Folded lines are sent with LF line ends, as both MTAs send them.
func (s *Session) Header(ctx context.Context, name, value string) filter.Verdict {
	if v, stop := s.gate(filter.StageHeader); stop {
		return v
	}
	if !s.neg.has(milter.ProtoHdrLeadSpace) {
		value = strings.TrimPrefix(value, " ")
	}
	if strings.Contains(value, "\r\n") {
		value = strings.ReplaceAll(value, "\r\n", "\n")
	}
	return s.exchange(ctx, filter.StageHeader, milter.Header{Name: name, Value: value})
}

// EndOfHeaders implements filter.Session: SMFIC_EOH.
func (s *Session) EndOfHeaders(ctx context.Context) filter.Verdict {
	if v, stop := s.gate(filter.StageEndOfHeaders); stop {
		return v
	}
	return s.exchange(ctx, filter.StageEndOfHeaders, milter.EndOfHeaders{})
}

// Body implements filter.Session. Chunks are gathered into SMFIC_BODY
// packets of the negotiated size (64 KiB, or 256 KiB or 1 MiB with
// SMFIP_MDS_*), so small chunks do not cost a round trip each; the rest is
// sent before end of message. A verdict may therefore arrive with a later
// chunk or at end of message. After SMFIR_SKIP no more body is sent.
func (s *Session) Body(ctx context.Context, chunk []byte) filter.Verdict {
	if v, stop := s.gate(filter.StageBody); stop {
		return v
	}
	if s.skipCmd == milter.CmdBody || !s.neg.sends(milter.CmdBody) {
		return filter.Continue
	}
	limit := s.neg.maxChunk
	for len(chunk) > 0 {
		var v filter.Verdict
		if len(s.body) == 0 && len(chunk) >= limit {
			v = s.exchange(ctx, filter.StageBody, milter.Body{Chunk: chunk[:limit]})
			chunk = chunk[limit:]
		} else {
			if s.body == nil {
				s.body = s.m.chunkBuffer(limit)
			}
			n := min(limit-len(s.body), len(chunk))
			s.body = append(s.body, chunk[:n]...)
			chunk = chunk[n:]
			if len(s.body) < limit {
				break
			}
			v = s.exchange(ctx, filter.StageBody, milter.Body{Chunk: s.body})
			s.body = s.body[:0]
		}
		if v.Action != filter.ActionContinue {
			return v
		}
	}
	return filter.Continue
}

// flushBody sends the body bytes still buffered.
func (s *Session) flushBody(ctx context.Context) filter.Verdict {
	if len(s.body) == 0 || s.skipCmd == milter.CmdBody {
		return filter.Continue
	}
	v := s.exchange(ctx, filter.StageBody, milter.Body{Chunk: s.body})
	s.body = s.body[:0]
	return v
}

// Unknown implements filter.Session: SMFIC_UNKNOWN (protocol version 3 and
// up).
func (s *Session) Unknown(ctx context.Context, command string) filter.Verdict {
	if v, stop := s.gate(filter.StageUnknown); stop {
		return v
	}
	return s.exchange(ctx, filter.StageUnknown, milter.Unknown{Line: command})
}
