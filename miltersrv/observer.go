package miltersrv

import "github.com/sluice-mta/sluice/filter"

// Observer is told of MTA connections and of the verdicts sent, for
// metrics (Options.Observer). Its methods are called from the
// connections' goroutines, concurrently, and must return quickly without
// calling the Server. A connection reports to the Observer of the
// options it was accepted with.
type Observer interface {
	// ConnectionOpened: an MTA connection was accepted.
	ConnectionOpened()
	// ConnectionRefused: an MTA connection was closed at once, beyond
	// MaxConnections or while the server shuts down.
	ConnectionRefused()
	// ConnectionClosed ends each ConnectionOpened.
	ConnectionClosed()
	// Verdict: the answer to stage st was sent to the MTA, from the
	// filter's action (FailureVerdict's when the filter failed). Stages
	// the MTA was told need no reply are not reported; the verdict at
	// StageEndOfMessage is each message's outcome.
	Verdict(st filter.Stage, action filter.Action)
}

// nopObserver stands for a nil Options.Observer.
type nopObserver struct{}

func (nopObserver) ConnectionOpened()                   {}
func (nopObserver) ConnectionRefused()                  {}
func (nopObserver) ConnectionClosed()                   {}
func (nopObserver) Verdict(filter.Stage, filter.Action) {}
