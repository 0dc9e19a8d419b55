package smtpclient

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-mta/sluice/envelope"
)

// failure is an outcome that applies to every recipient still open.
type failure struct {
	status   envelope.Status
	code     int // reply code, 0 when the failure is local
	enhanced string
	text     string

	handshake bool // a failed TLS handshake (errors.Is errHandshake)
}

func (f *failure) Error() string { return f.text }

// Is lets errors.Is find errHandshake.
func (f *failure) Is(target error) bool { return target == errHandshake && f.handshake }

// fromReply makes a failure out of a downstream reply.
func fromReply(rep Reply, status envelope.Status) *failure {
	return &failure{status: status, code: rep.Code, enhanced: rep.Enhanced, text: rep.Text()}
}

// replyFailure classifies rep (4xx deferred, 5xx failed), prefixing the
// text with what was refused.
func replyFailure(what string, rep Reply) *failure {
	f := fromReply(rep, rep.status())
	if f.status == envelope.Delivered {
		f.status = envelope.Deferred // an unexpected 2xx where 3xx was due
	}
	if what != "" {
		f.text = fmt.Sprintf("%s (in reply to %s)", f.text, what)
	}
	return f
}

// sessionFailure is replyFailure for a step before MAIL (greeting, EHLO,
// STARTTLS, AUTH): always temporary, since such a refusal says nothing
// about the message.
func sessionFailure(what string, rep Reply) *failure {
	f := replyFailure(what, rep)
	f.status = envelope.Deferred
	return f
}

// deferred makes a local temporary failure.
func deferred(enhanced, format string, args ...any) *failure {
	return &failure{status: envelope.Deferred, enhanced: enhanced, text: fmt.Sprintf(format, args...)}
}

// ioFailure turns an error of the session into a temporary failure that
// names the downstream and what was going on.
func (c *Client) ioFailure(ctx context.Context, err error) *failure {
	var f *failure
	if errors.As(err, &f) {
		return f
	}
	if ctx.Err() != nil {
		var ie *ioError
		what := ""
		if errors.As(err, &ie) {
			what = " while " + ie.stage.String()
		}
		return deferred("4.4.2", "delivery to %s interrupted%s: %v", c.remote, what, context.Cause(ctx))
	}
	return deferred("4.4.2", "conversation with %s: %v", c.remote, err)
}

// result renders the failure for one recipient. Remote is kept only when
// the downstream answered (a reply code).
func (f *failure) result(rcpt, remote string) envelope.RcptResult {
	if f.code == 0 {
		remote = ""
	}
	return envelope.RcptResult{Rcpt: rcpt, Status: f.status, Code: f.code, Enhanced: f.enhanced, Text: f.text, Remote: remote}
}
