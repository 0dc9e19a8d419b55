package miltersrv_test

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/miltersrv"
)

// quarantine holds every message from one sender.
type quarantine struct{ sender string }

func (q quarantine) Needs() filter.Needs {
	return filter.Needs{Edits: filter.EditQuarantine}
}

func (q quarantine) NewSession(context.Context, filter.Macros) (filter.Session, error) {
	return &quarantineSession{sender: q.sender}, nil
}

type quarantineSession struct {
	filter.Base
	sender string
	hold   bool
}

func (s *quarantineSession) Mail(_ context.Context, from envelope.Address) filter.Verdict {
	s.hold = strings.EqualFold(from.Addr, s.sender)
	return filter.Continue
}

func (s *quarantineSession) EndOfMessage(_ context.Context, m *filter.Modifier) filter.Verdict {
	if s.hold {
		m.Quarantine("sender " + s.sender)
	}
	return filter.Continue
}

// Serve a filter that quarantines mail from one sender. Point Postfix at
// it with smtpd_milters = inet:127.0.0.1:8890. (Compiled, not run: it
// serves forever.)
func Example() {
	srv := miltersrv.New(quarantine{sender: "spammer@example.com"}, miltersrv.Options{})
	log.Fatal(srv.ListenAndServe("inet:8890@127.0.0.1"))
}

// Swap the filter on SIGHUP: MTA connections opened afterwards get the new
// one, open ones finish with the old one. (Compiled, not run.)
func ExampleServer_SetFilter() {
	srv := miltersrv.New(quarantine{sender: "spammer@example.com"}, miltersrv.Options{})
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			srv.SetFilter(quarantine{sender: "other@example.com"})
		}
	}()
	log.Fatal(srv.ListenAndServe("inet:8890@127.0.0.1"))
}
