package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// svGreylisted is the greylist filter's refusal of an unknown triplet.
const svGreylisted = "450 4.2.0 Greylisted, please try again later"

// TestFilterGreylist runs `sluice serve` with [filters.greylist] (loopback
// not whitelisted, a one-second delay): the first RCPT of a triplet is
// refused with 450 4.2.0, a retry after the delay is accepted and the
// message relayed, and after a restart the state file still lets the
// triplet through while an unknown one is greylisted.
func TestFilterGreylist(t *testing.T) {
	bin := svBuildSluice(t)
	sink := svStartSink(t)
	s := svStart(t, bin, svConfig{
		Downstream: sink.Downstream(),
		Extra:      "[filters.greylist]\ndelay = \"1s\"\nwhitelist_networks = []\n",
	})
	ehlo := svEHLO(svDefaultSize, svExtTLS)
	const from, to = "alice@example.org", "bob@example.com"

	c := svOpen(t, s.Addr, "127.0.0.1", "client.test", ehlo)
	c.cmd("MAIL FROM:<"+from+">", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+to+">", svGreylisted)
	c.cmd("RCPT TO:<"+to+">", svGreylisted) // too early
	c.quit()

	time.Sleep(1200 * time.Millisecond)
	c = svOpen(t, s.Addr, "127.0.0.1", "client.test", ehlo)
	c.send(from, []string{to}, svCRLF("Subject: greylist\n\nhello\n"))
	c.quit()
	s.waitQueueEmpty(t)
	if n := len(sink.messages()); n != 1 {
		t.Fatalf("the downstream received %d messages, want 1", n)
	}

	s.stop(t)
	state := filepath.Join(s.dir, "var", "greylist.db")
	data, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("the state file after SIGTERM: %v", err)
	}
	var sf struct {
		Version  int
		Triplets []struct{ Client, Sender, Recipient string }
	}
	if err := json.Unmarshal(data, &sf); err != nil || sf.Version != 1 || len(sf.Triplets) != 1 ||
		sf.Triplets[0].Client != "127.0.0.0/24" || sf.Triplets[0].Sender != from || sf.Triplets[0].Recipient != to {
		t.Fatalf("state file %s: %v", data, err)
	}

	s.restart(t)
	c = svOpen(t, s.Addr, "127.0.0.1", "client.test", ehlo)
	c.cmd("MAIL FROM:<"+from+">", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+to+">", "250 2.1.5 Ok")
	c.cmd("RCPT TO:<carol@example.com>", svGreylisted)
	c.cmd("RSET", "250 2.0.0 Ok")
	c.quit()
	s.stop(t)
}
