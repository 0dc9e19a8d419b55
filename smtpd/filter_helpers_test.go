package smtpd

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// recFilter is a test filter: it records every call, with the macros the
// test asks for, and answers what the test set per stage.
type recFilter struct {
	needs    filter.Needs
	verdicts map[filter.Stage]filter.Verdict
	rcpt     map[string]filter.Verdict // per recipient address
	eom      func(m *filter.Modifier) filter.Verdict
	macros   []string // macro names to record with each event
	mu       sync.Mutex
	events   []string
}

func (f *recFilter) Needs() filter.Needs { return f.needs }

func (f *recFilter) NewSession(ctx context.Context, m filter.Macros) (filter.Session, error) {
	f.record(nil, "open")
	return &recSession{f: f, m: m}, nil
}

func (f *recFilter) record(m filter.Macros, format string, args ...any) {
	e := fmt.Sprintf(format, args...)
	for _, name := range f.macros {
		if m == nil {
			break
		}
		if v, ok := m.Macro(name); ok {
			e += " " + name + "=" + v
		}
	}
	f.mu.Lock()
	f.events = append(f.events, e)
	f.mu.Unlock()
}

// log returns the events so far.
func (f *recFilter) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func (f *recFilter) verdict(st filter.Stage) filter.Verdict {
	return f.verdicts[st]
}

type recSession struct {
	f *recFilter
	m filter.Macros
}

func (s *recSession) Connect(ctx context.Context, c *envelope.Conn) filter.Verdict {
	s.f.record(s.m, "connect %s %s", c.ClientName, c.ClientAddr)
	return s.f.verdict(filter.StageConnect)
}

func (s *recSession) Helo(ctx context.Context, name string) filter.Verdict {
	s.f.record(s.m, "helo %s", name)
	return s.f.verdict(filter.StageHelo)
}

func (s *recSession) Mail(ctx context.Context, from envelope.Address) filter.Verdict {
	s.f.record(s.m, "mail <%s> %s", from.Addr, from.ParamString())
	return s.f.verdict(filter.StageMail)
}

func (s *recSession) Rcpt(ctx context.Context, to envelope.Address) filter.Verdict {
	s.f.record(s.m, "rcpt <%s>", to.Addr)
	if v, ok := s.f.rcpt[to.Addr]; ok {
		return v
	}
	return s.f.verdict(filter.StageRcpt)
}

func (s *recSession) Data(ctx context.Context) filter.Verdict {
	s.f.record(s.m, "data")
	return s.f.verdict(filter.StageData)
}

func (s *recSession) Header(ctx context.Context, name, value string) filter.Verdict {
	s.f.record(nil, "header %s:%s", name, strings.ReplaceAll(value, "\r\n", "\\r\\n"))
	return s.f.verdict(filter.StageHeader)
}

func (s *recSession) EndOfHeaders(ctx context.Context) filter.Verdict {
	s.f.record(nil, "eoh")
	return s.f.verdict(filter.StageEndOfHeaders)
}

func (s *recSession) Body(ctx context.Context, chunk []byte) filter.Verdict {
	s.f.record(nil, "body %q", chunk)
	return s.f.verdict(filter.StageBody)
}

func (s *recSession) EndOfMessage(ctx context.Context, m *filter.Modifier) filter.Verdict {
	s.f.record(s.m, "eom")
	if s.f.eom != nil {
		return s.f.eom(m)
	}
	return s.f.verdict(filter.StageEndOfMessage)
}

func (s *recSession) Abort(ctx context.Context) { s.f.record(nil, "abort") }

func (s *recSession) Unknown(ctx context.Context, cmd string) filter.Verdict {
	s.f.record(nil, "unknown %s", cmd)
	return s.f.verdict(filter.StageUnknown)
}

func (s *recSession) Close(ctx context.Context) { s.f.record(nil, "close") }

// waitEvents waits, a few seconds at most, for the filter to have n
// events (the last ones come after the client's QUIT).
func waitEvents(t *testing.T, f *recFilter, n int) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if len(f.log()) >= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}
