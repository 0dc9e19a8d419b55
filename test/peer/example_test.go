package peer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/test/peer"
)

// A test relays a message through a private Postfix to a sink and checks
// what arrived. (An example cannot get a *testing.T, so this one shows the
// body of such a test and is compiled, not run.)
func Example() {
	testRelay := func(t *testing.T) {
		peer.Need(t, "swaks")
		sink := peer.StartSink(t, peer.SinkOptions{})
		pf := peer.StartPostfix(t, peer.PostfixOptions{
			Relay: sink.Addr,
			Main:  map[string]string{"smtpd_milters": "inet:127.0.0.1:8890"},
		})
		out, err := peer.Swaks(t, "--server", pf.Addr(), "--from", "a@example.org", "--to", "b@example.net")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		msg := sink.WaitMessages(t, 1, time.Minute)[0]
		fmt.Println(msg.From, msg.To)
		pf.WaitQueueEmpty(t, time.Minute)
	}
	_ = testRelay
}
