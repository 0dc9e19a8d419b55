package miltersrv

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/milter"
)

// recObserver records the observer's calls as strings.
type recObserver struct {
	mu     sync.Mutex
	events []string
}

func (o *recObserver) add(s string) {
	o.mu.Lock()
	o.events = append(o.events, s)
	o.mu.Unlock()
}

func (o *recObserver) ConnectionOpened()  { o.add("opened") }
func (o *recObserver) ConnectionRefused() { o.add("refused") }
func (o *recObserver) ConnectionClosed()  { o.add("closed") }
func (o *recObserver) Verdict(st filter.Stage, a filter.Action) {
	o.add(fmt.Sprintf("%s %s", st, a))
}

func (o *recObserver) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.events)
}

// TestObserver scripts one message whose recipient is rejected and a
// connection refused beyond MaxConnections, and checks the exact events.
func TestObserver(t *testing.T) {
	obs := &recObserver{}
	rec := &recorder{verdicts: map[filter.Stage]filter.Verdict{
		filter.StageRcpt: filter.CustomReply(550, "5.1.1", "no such user"),
	}}
	_, addr := serve(t, rec, Options{MaxConnections: 1, Observer: obs})
	m := dialMTA(t, addr)
	m.negotiate(6, allActions, allProtocol)
	dialMTA(t, addr).expectClosed() // the one connection allowed is taken
	for _, c := range messageCommands() {
		m.send(c)
		if _, isMacro := c.(milter.Macro); !isMacro {
			m.recv()
		}
	}
	m.send(milter.Quit{})
	m.expectClosed()
	want := []string{
		"opened", "refused",
		"connect continue", "helo continue", "mail continue", "rcpt reject", "data continue",
		"header continue", "eoh continue", "body continue", "eom continue",
		"closed",
	}
	waitFor(t, "the connection's end", func() bool { return len(obs.log()) >= len(want) })
	if got := obs.log(); !slices.Equal(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
