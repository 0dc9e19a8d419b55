package filter_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// tagger adds a header naming the sender's domain.
type tagger struct{}

func (tagger) Needs() filter.Needs {
	return filter.Needs{Skip: filter.AllStages &^ filter.Stages(filter.StageMail, filter.StageEndOfMessage), Edits: filter.EditAddHeader}
}

func (tagger) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &taggerSession{}, nil
}

type taggerSession struct {
	filter.Base
	domain string
}

func (s *taggerSession) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	if strings.HasSuffix(from.Addr, "@blocked.example") {
		return filter.CustomReply(550, "5.7.1", "sender domain blocked")
	}
	s.domain = envelope.Domain(from.Addr)
	return filter.Continue
}

func (s *taggerSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	m.AddHeader("X-Sender-Domain", s.domain)
	return filter.Continue
}

// A filter with a verdict at MAIL and an edit at end of message, run as a
// one-member chain the way an engine drives it.
func Example() {
	ctx := context.Background()
	sess, _ := filter.NewChain(tagger{}).NewSession(ctx, filter.NoMacros)
	defer sess.Close(ctx)

	fmt.Println(sess.Mail(ctx, envelope.Address{Addr: "eve@blocked.example"}))
	sess.Abort(ctx)
	sess.Mail(ctx, envelope.Address{Addr: "ann@example.org"})
	m := filter.NewModifier(filter.AllEdits, nil)
	sess.EndOfMessage(ctx, m)
	fmt.Println(m.Edits()[0])
	// Output:
	// reject 550 5.7.1 sender domain blocked
	// addheader X-Sender-Domain: example.org
}
