package test

import (
	"bufio"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	// rlReloaded and rlFailed start the log lines of a reload.
	rlReloaded = `msg="configuration reloaded"`
	rlFailed   = `msg="reload failed; keeping the running configuration"`
	// rlReleased is logged (debug) once no session uses a replaced chain.
	rlReleased = `msg="previous filter chain released"`
)

// TestServeReload runs the real `sluice serve` and changes its
// configuration file under it, then sends SIGHUP to its PID: new sessions
// follow the new file, sessions opened before keep the old rules, a file
// that does not load changes nothing, and keys that need a restart keep
// their values.
func TestServeReload(t *testing.T) {
	bin := svBuildSluice(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T, string)
	}{
		{"relay_and_filters", rlRelayAndFilters},
		{"invalid_config", rlInvalid},
		{"restart_keys", rlRestartKeys},
		{"client_names", rlClientNames},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, bin)
		})
	}
}

// rlReload writes c as the configuration of s, sends SIGHUP and waits for
// the reload's outcome, the line starting with want (rlReloaded or
// rlFailed). It returns the log written by the reload.
func rlReload(t *testing.T, s *svSluice, c svConfig, want string) string {
	t.Helper()
	return rlReloadFile(t, s, svRender(c, s.Port, s.dir), want)
}

// rlReloadFile is rlReload with the file's text.
func rlReloadFile(t *testing.T, s *svSluice, body, want string) string {
	t.Helper()
	if err := os.WriteFile(s.cfgPath, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	before := s.log()
	n := strings.Count(before, rlReloaded) + strings.Count(before, rlFailed)
	if !s.running() {
		t.Fatalf("sluice serve exited before SIGHUP: %v", s.waitErr)
	}
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP to sluice serve (pid %d): %v", s.cmd.Process.Pid, err)
	}
	deadline := time.Now().Add(svWait)
	for {
		l := s.log()
		if strings.Count(l, rlReloaded)+strings.Count(l, rlFailed) > n {
			// Let the lines of the same reload finish.
			time.Sleep(50 * time.Millisecond)
			after := s.log()[len(before):]
			if !strings.Contains(after, want) {
				t.Fatalf("reload did not log %s:\n%s", want, after)
			}
			return after
		}
		if !s.running() {
			t.Fatalf("sluice serve exited after SIGHUP: %v", s.waitErr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("sluice serve logged no reload within %v after SIGHUP", svWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rlWaitLog waits until the log holds want count times.
func rlWaitLog(t *testing.T, s *svSluice, want string, count int) {
	t.Helper()
	deadline := time.Now().Add(svWait)
	for strings.Count(s.log(), want) < count {
		if time.Now().After(deadline) {
			t.Fatalf("sluice serve did not log %s %d times within %v", want, count, svWait)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rlLine returns the one line of log that holds want.
func rlLine(t *testing.T, log, want string) string {
	t.Helper()
	var found []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		if strings.Contains(sc.Text(), want) {
			found = append(found, sc.Text())
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d log lines hold %s, want 1:\n%s", len(found), want, log)
	}
	return found[0]
}

// rlContent is a message to rcpt.
func rlContent(rcpt, subject string) []byte {
	return svCRLF(strings.Join(svMessage(rcpt, subject, "body of "+subject), "\n") + "\n")
}

// rlWithHeader is content as sluice relays it with the default headers
// filter and then the extra fields.
func rlWithHeader(content []byte, extra ...string) []byte {
	out := svFiltered(content)
	head, body, _ := strings.Cut(string(out), "\r\n\r\n")
	for _, e := range extra {
		head += "\r\n" + e
	}
	return []byte(head + "\r\n\r\n" + body)
}

// rlCheckContent checks the relayed bytes after sluice's Received field.
func rlCheckContent(t *testing.T, m svMsg, want []byte) {
	t.Helper()
	data := string(m.Data)
	if !strings.HasPrefix(data, "Received: ") {
		t.Fatalf("relayed content does not start with Received: %q", data)
	}
	i := strings.Index(data, "\r\nFrom: ")
	if i < 0 {
		t.Fatalf("relayed content has no From field: %q", data)
	}
	if got := data[i+2:]; got != string(svStuff(want)) {
		t.Fatalf("relayed content after the Received field:\n%q\nwant\n%q", got, svStuff(want))
	}
}

// rlRelayAndFilters: relay_domains gains a domain and [filters.headers]
// gains a field. A session opened before SIGHUP keeps the old relay
// domains and filter chain until it ends; sessions opened after get the
// new ones; the old chain is released when the old session ends.
func rlRelayAndFilters(t *testing.T, bin string) {
	sink := svStartSink(t)
	c := svConfig{
		SMTP:       []string{`trusted_networks = ["127.0.0.1/32"]`, `relay_domains = ["example.org"]`},
		Downstream: sink.Downstream(),
	}
	s := svStart(t, bin, c)
	before := svOpen(t, s.Addr, svUntrusted, "before.test", svEHLO(svDefaultSize, svExtTLS))
	before.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	before.cmd("RCPT TO:<early@example.net>", svDenied("early@example.net"))

	c.SMTP[1] = `relay_domains = ["example.org", "example.net"]`
	c.Extra = "[filters.headers]\nadd = [\"X-Filtered-By: sluice\", \"X-Reloaded: yes\"]"
	out := rlReload(t, s, c, rlReloaded)
	if line := rlLine(t, out, rlReloaded); !strings.Contains(line, `changed="smtp.relay_domains filters.headers"`) {
		t.Errorf("reload line %q does not list exactly the changed keys", line)
	}
	if strings.Contains(out, "needs a restart") {
		t.Errorf("a restart was asked for live keys:\n%s", out)
	}

	// A new session: the new relay domain, and the new header.
	rcpt := "late@example.net"
	after := svOpen(t, s.Addr, svUntrusted, "after.test", svEHLO(svDefaultSize, svExtTLS))
	content := rlContent(rcpt, "after reload")
	after.send("sender@example.com", []string{rcpt}, content)
	after.quit()
	rlCheckContent(t, sink.waitOne(t, rcpt), rlWithHeader(content, "X-Reloaded: yes"))

	// The session opened before: still the old rules and chain.
	before.cmd("RCPT TO:<again@example.net>", svDenied("again@example.net"))
	old := "kept@example.org"
	before.cmd("RCPT TO:<"+old+">", "250 2.1.5 Ok")
	before.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	oldContent := rlContent(old, "before reload")
	before.write(string(svStuff(oldContent)) + ".\r\n")
	before.match(svQueuedRE)
	if strings.Contains(s.log(), rlReleased) {
		t.Error("the previous chain was released while a session still used it")
	}
	before.quit()
	rlCheckContent(t, sink.waitOne(t, old), rlWithHeader(oldContent))
	rlWaitLog(t, s, rlReleased, 1)
	s.stop(t)
}

// rlInvalid: a file with a syntax error, an unknown key, a bad value, or
// a filter option only the filter refuses is logged with its file and key
// and changes nothing; the server stays up, and a good file afterwards is
// applied.
func rlInvalid(t *testing.T, bin string) {
	sink := svStartSink(t)
	c := svConfig{
		SMTP:       []string{`trusted_networks = ["127.0.0.1/32"]`, `relay_domains = ["example.org"]`},
		Downstream: sink.Downstream(),
	}
	s := svStart(t, bin, c)
	good := svRender(c, s.Port, s.dir)
	for _, tt := range []struct {
		name string
		body string
		want string // in the error line, after the file's name
	}{
		{"syntax", strings.Replace(good, `relay_domains = ["example.org"]`, `relay_domains = ["example.org", "example.net"`, 1),
			`:11:1: array elements must be separated by commas`},
		{"unknown key", strings.Replace(good, `relay_domains = ["example.org"]`, `relay_domain = ["example.org", "example.net"]`, 1),
			`: smtp.relay_domain: unknown key (did you mean \"relay_domains\"?)`},
		{"bad value", strings.Replace(good, `relay_domains = ["example.org"]`, `relay_domains = ["example.net", "exa mple.org"]`, 1) +
			"\n[filters.headers]\nadd = [\"X-Never: 1\"]\n",
			`: smtp.relay_domains[1]: bad domain \"exa mple.org\"`},
		{"filter option", strings.Replace(good, `relay_domains = ["example.org"]`, `relay_domains = ["example.net"]`, 1) +
			"\n[filters.access]\n[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\nreply = \"250 fine\"\n",
			`: filters.access.rules[0].reply: `},
	} {
		out := rlReloadFile(t, s, tt.body, rlFailed)
		if line := rlLine(t, out, rlFailed); !strings.Contains(line, s.cfgPath+tt.want) {
			t.Errorf("%s: error line %q does not name %q", tt.name, line, s.cfgPath+tt.want)
		}
		if strings.Contains(out, rlReloaded) {
			t.Errorf("%s: a failed reload also logged success:\n%s", tt.name, out)
		}
		conn := svOpen(t, s.Addr, svUntrusted, "outsider.test", svEHLO(svDefaultSize, svExtTLS))
		conn.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
		conn.cmd("RCPT TO:<x@example.net>", svDenied("x@example.net"))
		rcpt := strings.ReplaceAll(tt.name, " ", "-") + "@example.org"
		conn.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
		conn.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
		content := rlContent(rcpt, tt.name)
		conn.write(string(svStuff(content)) + ".\r\n")
		conn.match(svQueuedRE)
		conn.quit()
		rlCheckContent(t, sink.waitOne(t, rcpt), rlWithHeader(content))
	}
	c.SMTP[1] = `relay_domains = ["example.net"]`
	rlReload(t, s, c, rlReloaded)
	conn := svOpen(t, s.Addr, svUntrusted, "outsider.test", svEHLO(svDefaultSize, svExtTLS))
	conn.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	conn.cmd("RCPT TO:<x@example.net>", "250 2.1.5 Ok")
	conn.cmd("RCPT TO:<x@example.org>", svDenied("x@example.org"))
	conn.cmd("RSET", "250 2.0.0 Ok")
	conn.quit()
	s.stop(t)
}

// rlRestartKeys: a changed listener, queue and downstream are logged as
// needing a restart and keep their values, while the live keys of the
// same file apply; the milter server's keys are not serve's.
func rlRestartKeys(t *testing.T, bin string) {
	sink := svStartSink(t)
	c := svConfig{
		SMTP:       []string{`trusted_networks = ["127.0.0.1/32"]`, `max_recipients = 5`},
		Downstream: sink.Downstream(),
	}
	s := svStart(t, bin, c)
	body := svRender(c, s.Port, s.dir)
	body = strings.Replace(body, `max_recipients = 5`, `max_recipients = 1`, 1)
	body = strings.Replace(body, `listen = ["127.0.0.1:`, `listen = ["127.0.0.1:1", "127.0.0.1:`, 1)
	body = strings.Replace(body, `tls = "none"`, `tls = "required"`, 1)
	body = strings.Replace(body, `retry = ["1s"]`, `retry = ["2s"]`, 1)
	body = strings.Replace(body, `shutdown_timeout = "10s"`, `shutdown_timeout = "11s"`, 1)
	out := rlReloadFile(t, s, body, rlReloaded)
	for _, key := range []string{"smtp.listen", "queue.retry", "downstream.tls"} {
		rlLine(t, out, `msg="configuration change needs a restart; keeping the running value" key=`+key)
	}
	if line := rlLine(t, out, rlReloaded); !strings.Contains(line, `changed=smtp.max_recipients ignored=milter_server.shutdown_timeout`) {
		t.Errorf("reload line %q, want changed=smtp.max_recipients ignored=milter_server.shutdown_timeout", line)
	}
	// The listener is the same, max_recipients is new, and the
	// downstream still takes mail without TLS.
	rcpt := "restart@example.org"
	conn := svOpen(t, s.Addr, "127.0.0.1", "insider.test", svEHLO(svDefaultSize, svExtTLS))
	conn.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	conn.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	conn.cmd("RCPT TO:<second@example.org>", "452 4.5.3 Too many recipients")
	conn.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	content := rlContent(rcpt, "restart keys")
	conn.write(string(svStuff(content)) + ".\r\n")
	conn.match(svQueuedRE)
	conn.quit()
	rlCheckContent(t, sink.waitOne(t, rcpt), rlWithHeader(content))
	if d, err := net.DialTimeout("tcp", "127.0.0.1:1", time.Second); err == nil {
		d.Close()
		t.Error("a listener on 127.0.0.1:1 was opened by the reload")
	}
	// The same file again: still a restart to ask for, nothing applied.
	out = rlReloadFile(t, s, body, rlReloaded)
	rlLine(t, out, `key=smtp.listen`)
	if line := rlLine(t, out, rlReloaded); !strings.Contains(line, `changed="" ignored=""`) {
		t.Errorf("second reload line %q, want nothing changed", line)
	}
	s.stop(t)
}

// rlClientNames: smtp.resolve_client_names turned on by a reload names
// the next client from /etc/hosts (forward-confirmed) in the Received
// field; it was "unknown" before.
func rlClientNames(t *testing.T, bin string) {
	names, err := net.LookupAddr("127.0.0.1")
	if err != nil || len(names) == 0 || strings.TrimSuffix(names[0], ".") != "localhost" {
		t.Skipf("needs /etc/hosts to name 127.0.0.1 localhost first: %v, %v", names, err)
	}
	sink := svStartSink(t)
	c := svConfig{Downstream: sink.Downstream()}
	s := svStart(t, bin, c)
	send := func(rcpt, name string) {
		t.Helper()
		conn := svOpen(t, s.Addr, "127.0.0.1", "names.test", svEHLO(svDefaultSize, svExtTLS))
		content := rlContent(rcpt, "names "+name)
		id := conn.send("sender@example.com", []string{rcpt}, content)
		conn.quit()
		svCheckRelayed(t, sink.waitOne(t, rcpt), svReceived{Helo: "names.test", Name: name, Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
	}
	send("off@example.org", "unknown")
	c.ResolveNames = true
	c.SMTP = []string{`dns_timeout = "2s"`}
	out := rlReload(t, s, c, rlReloaded)
	if line := rlLine(t, out, rlReloaded); !strings.Contains(line, `changed="smtp.resolve_client_names smtp.dns_timeout"`) {
		t.Errorf("reload line %q", line)
	}
	send("on@example.org", "localhost")
	s.stop(t)
}
