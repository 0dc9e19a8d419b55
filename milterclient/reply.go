package milterclient

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// decodeReply decodes a packet from the milter. SMFIR_REPLYCODE is only
// checked to be one NUL-terminated string here: parseReply checks its text
// with rules a little kinder than the codec's (an enhanced status code is
// optional, as it is in RFC 5321), and every other reply goes through
// milter.DecodeResponse.
func decodeReply(p milter.Packet) (milter.Response, error) {
	if p.Code != milter.RespReplyCode {
		return milter.DecodeResponse(p)
	}
	d := p.Data
	if len(d) == 0 || d[len(d)-1] != 0 || bytes.IndexByte(d[:len(d)-1], 0) >= 0 {
		return nil, &milter.ProtocolError{Code: p.Code, Err: milter.ErrMalformed, Detail: "reply text is not one NUL-terminated string"}
	}
	return milter.ReplyCode{Text: string(d[:len(d)-1])}, nil
}

// parseReply turns an SMFIR_REPLYCODE text into a reply: "550 5.7.1 go
// away", or several lines joined by CRLF ("550-5.7.1 first\r\n550 5.7.1
// last"). Every line starts with the same 4xx or 5xx code followed by '-'
// or ' ' (a line that is just the code is allowed). The enhanced status
// code is taken from the first line when it has one of the right class,
// and removed from every line that repeats it. Sendmail's doubling of '%'
// is undone: "%%" becomes "%".
func parseReply(text string) (filter.Reply, error) {
	lines := strings.Split(text, "\r\n")
	first := lines[0]
	if len(first) < 4 || (first[0] != '4' && first[0] != '5') || !isDigit(first[1]) || !isDigit(first[2]) ||
		(first[3] != ' ' && first[3] != '-') {
		return filter.Reply{}, fmt.Errorf("reply %q does not start with a 4xx or 5xx code", cut(text))
	}
	code := first[:3]
	r := filter.Reply{Code: int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')}
	if enh, _, _ := strings.Cut(first[4:], " "); validEnhanced(enh, code[0]) {
		r.Enhanced = enh
	}
	r.Lines = make([]string, 0, len(lines))
	for i, l := range lines {
		var rest string
		switch {
		case l == code:
		case len(l) >= 4 && l[:3] == code && (l[3] == ' ' || l[3] == '-'):
			rest = l[4:]
		default:
			return filter.Reply{}, fmt.Errorf("reply line %d %q does not start with code %s", i+1, cut(l), code)
		}
		if r.Enhanced != "" && strings.HasPrefix(rest, r.Enhanced) {
			if after := rest[len(r.Enhanced):]; after == "" || after[0] == ' ' {
				rest = strings.TrimPrefix(after, " ")
			}
		}
		r.Lines = append(r.Lines, strings.ReplaceAll(rest, "%%", "%"))
	}
	if err := r.Validate(); err != nil {
		return filter.Reply{}, err
	}
	return r, nil
}

// replyVerdict is the verdict for an SMFIR_REPLYCODE.
func replyVerdict(text string) (filter.Verdict, error) {
	r, err := parseReply(text)
	if err != nil {
		return filter.Verdict{}, fmt.Errorf("bad SMFIR_REPLYCODE: %w", err)
	}
	a := filter.ActionReject
	if r.Code/100 == 4 {
		a = filter.ActionTempFail
	}
	return filter.Verdict{Action: a, Reply: &r}, nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// validEnhanced checks an RFC 3463 status code class.subject.detail whose
// class is the given digit.
func validEnhanced(s string, class byte) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] != string(class) {
		return false
	}
	for _, p := range parts[1:] {
		if len(p) < 1 || len(p) > 3 {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isDigit(p[i]) {
				return false
			}
		}
	}
	return true
}

func cut(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// Fixed replies for the default actions and SMFIR_SHUTDOWN. The texts are
// Postfix's, so that clients see what they would see behind Postfix; the
// milter's name is in the log, not in the reply to the outside.
var (
	tempFailReply = filter.Reply{Code: 451, Enhanced: "4.7.1", Lines: []string{"Service unavailable - try again later"}}
	rejectReply   = filter.Reply{Code: 550, Enhanced: "5.7.1", Lines: []string{"Command rejected"}}
	shutdownReply = filter.Reply{Code: 421, Enhanced: "4.7.0", Lines: []string{"Server closing connection"}}
)

// ShutdownVerdict is the verdict for SMFIR_SHUTDOWN and for the Shutdown
// default action: a temporary failure with the reply "421 4.7.0 Server
// closing connection". An SMTP engine answers it and closes the
// connection, as a 421 reply requires (RFC 5321 §3.8).
func ShutdownVerdict() filter.Verdict {
	r := shutdownReply
	r.Lines = append([]string(nil), r.Lines...)
	return filter.Verdict{Action: filter.ActionTempFail, Reply: &r}
}

func fixedVerdict(a filter.Action, r filter.Reply) filter.Verdict {
	r.Lines = append([]string(nil), r.Lines...)
	return filter.Verdict{Action: a, Reply: &r}
}

// errUnexpected builds the error for a reply that has no place at a stage.
func errUnexpected(resp milter.Response, cmd byte) error {
	return fmt.Errorf("unexpected %s in reply to %s", milter.ResponseName(resp.Code()), milter.CommandName(cmd))
}

// ErrCircuitOpen is the failure of sessions opened while the circuit
// breaker is open: the milter was not dialed.
var ErrCircuitOpen = errors.New("milter unavailable: circuit open after repeated connection failures")
