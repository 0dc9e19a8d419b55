package test

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluice-mta/sluice/test/peer"
)

const (
	// svUser and svPassword are the one account of the users file.
	svUser     = "alice"
	svPassword = "correct horse battery staple"
	// svSmallSize is max_message_size in the swaks group: 64 KiB.
	svSmallSize = 64 << 10
	// svTooBig is the reply to a message over max_message_size.
	svTooBig = "552 5.3.4 Message size exceeds fixed maximum message size"
	// svOther is a domain sluice does not relay for in the swaks and
	// relay groups.
	svOther = "elsewhere.test"
)

// svSwaksRig is the swaks group's sluice: only 127.0.0.1 is trusted,
// example.org is a relay domain, AUTH has one user, messages are limited
// to 64 KiB.
type svSwaksRig struct {
	s    *svSluice
	sink *svSink
	dir  string
}

// svGroupSwaks drives sluice serve with swaks: plain, STARTTLS, AUTH after
// TLS (and refused before it), pipelining, 8BITMIME, SIZE over the limit,
// and BDAT with a raw client, as swaks 2020 cannot send BDAT.
func svGroupSwaks(t *testing.T, bin string) {
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(svPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("# test users\n"+svUser+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &svSwaksRig{sink: svStartSink(t), dir: dir}
	r.s = svStart(t, bin, svConfig{
		SMTP: []string{
			`trusted_networks = ["127.0.0.1/32"]`,
			`relay_domains = ["example.org"]`,
			`max_message_size = "64KiB"`,
		},
		Downstream: r.sink.Downstream(),
		Extra:      fmt.Sprintf("[smtp.auth]\nusers_file = %q\n", users),
	})
	t.Run("cases", func(t *testing.T) {
		for _, c := range []struct {
			name string
			run  func(*testing.T, *svSwaksRig)
		}{
			{"plain", svSwaksPlain},
			{"starttls", svSwaksStartTLS},
			{"auth_after_tls", svSwaksAuth},
			{"auth_wrong_password", svSwaksAuthWrong},
			{"auth_refused_before_tls", svAuthBeforeTLS},
			{"starttls_drops_pipelined_plaintext", svStartTLSInjection},
			{"pipelining", svSwaksPipelining},
			{"pipelining_raw", svPipeliningRaw},
			{"8bitmime", svSwaks8BitMIME},
			{"8bitmime_param", svRaw8BitMIME},
			{"size_over_limit", svSwaksTooBig},
			{"size_param_over_limit", svSizeParam},
			{"bdat", svBDAT},
			{"bdat_no_final_crlf", svBDATNoFinalCRLF},
			{"bdat_over_limit", svBDATTooBig},
		} {
			t.Run(c.name, func(t *testing.T) {
				t.Parallel()
				c.run(t, r)
			})
		}
	})
	r.s.waitQueueEmpty(t)
	r.s.stop(t)
}

// svSwaks runs swaks against addr and returns the server's reply lines
// from its transcript, and the transcript. It skips the test when swaks
// is not installed.
func svSwaks(t *testing.T, addr string, args ...string) ([]string, string, error) {
	t.Helper()
	out, err := peer.Swaks(t, append([]string{"--server", addr, "--timeout", "30"}, args...)...)
	return svSwaksReplies(out), out, err
}

// svSwaksReplies picks the server's lines out of a swaks transcript:
// "<-  " (plain), "<~  " (TLS), "<** " and "<~* " (an error reply).
func svSwaksReplies(out string) []string {
	var replies []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSuffix(l, "\r")
		for _, p := range []string{"<-  ", "<~  ", "<** ", "<~* "} {
			if rest, ok := strings.CutPrefix(l, p); ok {
				replies = append(replies, rest)
			}
		}
	}
	return replies
}

// svSwaksWant is the replies of a plain swaks transaction; the queued
// reply is matched by svCheckSwaks. ehlo is sluice's EHLO reply; mid
// are the replies between EHLO and MAIL (STARTTLS, second EHLO, AUTH).
func svSwaksWant(ehlo string, mid ...string) []string {
	want := []string{svGreeting}
	want = append(want, strings.Split(ehlo, "\n")...)
	for _, m := range mid {
		want = append(want, strings.Split(m, "\n")...)
	}
	return append(want, "250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", "QUEUED", "221 2.0.0 Bye")
}

// svCheckSwaks compares a transcript's replies with want, where "QUEUED"
// stands for the queued reply, and returns the queue ID.
func svCheckSwaks(t *testing.T, got, want []string, out string) string {
	t.Helper()
	var id string
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		if want[i] == "QUEUED" {
			m := regexp.MustCompile(svQueuedRE).FindStringSubmatch(got[i])
			ok = m != nil
			if ok {
				id = m[1]
			}
			continue
		}
		ok = got[i] == want[i]
	}
	if !ok {
		t.Fatalf("swaks replies:\n%s\nwant:\n%s\ntranscript:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
	return id
}

// svSwaksData writes a --data file: the lines of the message joined by
// "\n" without a final newline (swaks adds CRLF before its "."), and
// returns it with the content sluice receives: CRLF line ends.
func svSwaksData(t *testing.T, dir, name string, lines ...string) (string, []byte) {
	t.Helper()
	path := filepath.Join(dir, name+".eml")
	text := strings.Join(lines, "\n")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, svCRLF(text + "\n")
}

// svMessage returns the lines of a small test message to rcpt.
func svMessage(rcpt, subject string, body ...string) []string {
	lines := []string{"From: <sender@example.com>", "To: <" + rcpt + ">", "Date: Mon, 2 Jan 2006 15:04:05 +0000", "Subject: " + subject,
		"Message-ID: <" + strings.ReplaceAll(subject, " ", "-") + "@example.com>", ""}
	return append(lines, body...)
}

func svSwaksPlain(t *testing.T, r *svSwaksRig) {
	rcpt := "plain@example.org"
	data, content := svSwaksData(t, t.TempDir(), "plain", svMessage(rcpt, "plain swaks", "line one", ".leading dot", "", "last line")...)
	got, out, err := svSwaks(t, r.s.Addr, "--ehlo", "client.test", "--from", "sender@example.com", "--to", rcpt, "--data", data)
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	id := svCheckSwaks(t, got, svSwaksWant(svEHLO(svSmallSize, svExtTLS)), out)
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
	if m.Mail != "MAIL FROM:<sender@example.com>" || !slices.Equal(m.Rcpts, []string{"RCPT TO:<" + rcpt + ">"}) {
		t.Errorf("downstream envelope %q %q, want MAIL FROM:<sender@example.com> and RCPT TO:<%s>", m.Mail, m.Rcpts, rcpt)
	}
}

func svSwaksStartTLS(t *testing.T, r *svSwaksRig) {
	rcpt := "tls@example.org"
	data, content := svSwaksData(t, t.TempDir(), "tls", svMessage(rcpt, "starttls swaks", "over TLS")...)
	got, out, err := svSwaks(t, r.s.Addr, "-tls", "--ehlo", "tls.client.test", "--from", "sender@example.com", "--to", rcpt, "--data", data)
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	want := svSwaksWant(svEHLO(svSmallSize, svExtTLS), "220 2.0.0 Ready to start TLS", svEHLO(svSmallSize, svExtAuth))
	id := svCheckSwaks(t, got, want, out)
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "tls.client.test", Name: "unknown", Addr: "127.0.0.1", TLS: true, Proto: "ESMTPS", For: rcpt}, id, content)
}

// svSwaksAuth authenticates over TLS from an untrusted address and relays
// to a domain only an authenticated client may reach.
func svSwaksAuth(t *testing.T, r *svSwaksRig) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		rcpt := "auth-" + strings.ToLower(mech) + "@" + svOther
		data, content := svSwaksData(t, t.TempDir(), "auth", svMessage(rcpt, "auth "+mech, "authenticated")...)
		got, out, err := svSwaks(t, r.s.Addr, "-tls", "--local-interface", "127.0.0.2", "--ehlo", "auth.client.test",
			"--auth", mech, "--auth-user", svUser, "--auth-password", svPassword,
			"--from", "sender@example.com", "--to", rcpt, "--data", data)
		if err != nil {
			t.Fatalf("swaks AUTH %s: %v\n%s", mech, err, out)
		}
		auth := "235 2.7.0 Authentication successful"
		if mech == "LOGIN" {
			auth = "334 VXNlcm5hbWU6\n334 UGFzc3dvcmQ6\n" + auth
		}
		want := svSwaksWant(svEHLO(svSmallSize, svExtTLS), "220 2.0.0 Ready to start TLS", svEHLO(svSmallSize, svExtAuth), auth)
		id := svCheckSwaks(t, got, want, out)
		m := r.sink.waitOne(t, rcpt)
		svCheckRelayed(t, m, svReceived{Helo: "auth.client.test", Name: "unknown", Addr: "127.0.0.2", TLS: true, Proto: "ESMTPSA", For: rcpt}, id, content)
	}
}

func svSwaksAuthWrong(t *testing.T, r *svSwaksRig) {
	got, out, err := svSwaks(t, r.s.Addr, "-tls", "--local-interface", "127.0.0.2", "--ehlo", "auth.client.test",
		"--auth", "PLAIN", "--auth-user", svUser, "--auth-password", "wrong password",
		"--from", "sender@example.com", "--to", "wrong@"+svOther)
	if err == nil {
		t.Fatalf("swaks with a wrong password exited 0:\n%s", out)
	}
	want := []string{svGreeting}
	want = append(want, strings.Split(svEHLO(svSmallSize, svExtTLS), "\n")...)
	want = append(want, "220 2.0.0 Ready to start TLS")
	want = append(want, strings.Split(svEHLO(svSmallSize, svExtAuth), "\n")...)
	want = append(want, "535 5.7.8 Authentication credentials invalid", "221 2.0.0 Bye")
	if !slices.Equal(got, want) {
		t.Fatalf("swaks replies:\n%s\nwant:\n%s\ntranscript:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), out)
	}
}

// svAuthBeforeTLS checks that AUTH is neither offered nor accepted in
// plaintext, that an unauthenticated client from an untrusted address
// cannot relay, and that the same client can after STARTTLS and AUTH.
func svAuthBeforeTLS(t *testing.T, r *svSwaksRig) {
	plain := base64.StdEncoding.EncodeToString([]byte("\x00" + svUser + "\x00" + svPassword))
	c := svOpen(t, r.s.Addr, "127.0.0.2", "raw.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd("AUTH PLAIN "+plain, "538 5.7.11 Encryption required for requested authentication mechanism")
	c.cmd("AUTH LOGIN", "538 5.7.11 Encryption required for requested authentication mechanism")
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<rawauth@"+svOther+">", "554 5.7.1 <rawauth@"+svOther+">: Relay access denied")
	c.cmd("RSET", "250 2.0.0 Ok")
	c.starttls()
	c.cmd("EHLO raw.client.test", svEHLO(svSmallSize, svExtAuth))
	c.cmd("AUTH PLAIN "+plain, "235 2.7.0 Authentication successful")
	c.cmd("EHLO raw.client.test", svEHLO(svSmallSize))
	content := svCRLF(strings.Join(svMessage("rawauth@"+svOther, "raw auth", "after TLS"), "\n") + "\n")
	id := c.send("sender@example.com", []string{"rawauth@" + svOther}, content)
	c.quit()
	m := r.sink.waitOne(t, "rawauth@"+svOther)
	svCheckRelayed(t, m, svReceived{Helo: "raw.client.test", Name: "unknown", Addr: "127.0.0.2", TLS: true, Proto: "ESMTPSA", For: "rawauth@" + svOther}, id, content)
}

// svStartTLSInjection sends a command pipelined after STARTTLS in
// plaintext (CVE-2011-0411): sluice must drop it, not run it inside TLS.
func svStartTLSInjection(t *testing.T, r *svSwaksRig) {
	c := svOpen(t, r.s.Addr, "", "inject.client.test", svEHLO(svSmallSize, svExtTLS))
	c.write("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
	c.expect("220 2.0.0 Ready to start TLS")
	c.starttlsHandshake()
	c.cmd("EHLO inject.client.test", svEHLO(svSmallSize, svExtAuth))
	c.cmd("RCPT TO:<inject@example.org>", "503 5.5.1 Need MAIL command")
	c.quit()
}

func svSwaksPipelining(t *testing.T, r *svSwaksRig) {
	rcpt := "pipeline@example.org"
	data, content := svSwaksData(t, t.TempDir(), "pipe", svMessage(rcpt, "pipelining swaks", "pipelined")...)
	got, out, err := svSwaks(t, r.s.Addr, "--pipeline", "--ehlo", "pipe.client.test", "--from", "sender@example.com",
		"--to", rcpt+",pipeline2@example.org", "--data", data)
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	want := []string{svGreeting}
	want = append(want, strings.Split(svEHLO(svSmallSize, svExtTLS), "\n")...)
	want = append(want, "250 2.1.0 Ok", "250 2.1.5 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>", "QUEUED", "221 2.0.0 Bye")
	id := svCheckSwaks(t, got, want, out)
	if !strings.Contains(out, " -> MAIL FROM:<sender@example.com>\n -> RCPT TO:<"+rcpt+">\n -> RCPT TO:<pipeline2@example.org>\n -> DATA\n") {
		t.Fatalf("swaks did not pipeline MAIL, RCPT and DATA:\n%s", out)
	}
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "pipe.client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP"}, id, content)
	if want := []string{"RCPT TO:<" + rcpt + ">", "RCPT TO:<pipeline2@example.org>"}; !slices.Equal(m.Rcpts, want) {
		t.Errorf("downstream recipients %q, want %q", m.Rcpts, want)
	}
}

// svPipeliningRaw sends whole command groups in one write, and checks the
// replies come in order, exactly, and that a failed RCPT in the group
// does not disturb the others.
func svPipeliningRaw(t *testing.T, r *svSwaksRig) {
	c := svDial(t, r.s.Addr, "127.0.0.2")
	c.write("EHLO piperaw.client.test\r\nMAIL FROM:<sender@example.com>\r\nRCPT TO:<piperaw@example.org>\r\n" +
		"RCPT TO:<denied@" + svOther + ">\r\nRCPT TO:<piperaw2@example.org>\r\nDATA\r\n")
	c.expect(svGreeting)
	c.expect(svEHLO(svSmallSize, svExtTLS))
	c.expect("250 2.1.0 Ok")
	c.expect("250 2.1.5 Ok")
	c.expect("554 5.7.1 <denied@" + svOther + ">: Relay access denied")
	c.expect("250 2.1.5 Ok")
	c.expect("354 End data with <CR><LF>.<CR><LF>")
	content := svCRLF(strings.Join(svMessage("piperaw@example.org", "raw pipelining", "pipelined"), "\n") + "\n")
	c.write(string(svStuff(content)) + ".\r\nRSET\r\nNOOP\r\nQUIT\r\n")
	id := c.match(svQueuedRE)
	c.expect("250 2.0.0 Ok")
	c.expect("250 2.0.0 Ok")
	c.expect("221 2.0.0 Bye")
	c.closed()
	m := r.sink.waitOne(t, "piperaw@example.org")
	svCheckRelayed(t, m, svReceived{Helo: "piperaw.client.test", Name: "unknown", Addr: "127.0.0.2", Proto: "ESMTP"}, id, content)
	if want := []string{"RCPT TO:<piperaw@example.org>", "RCPT TO:<piperaw2@example.org>"}; !slices.Equal(m.Rcpts, want) {
		t.Errorf("downstream recipients %q, want %q", m.Rcpts, want)
	}
}

func svSwaks8BitMIME(t *testing.T, r *svSwaksRig) {
	rcpt := "eight@example.org"
	data, content := svSwaksData(t, t.TempDir(), "8bit", svMessage(rcpt, "8bit swaks",
		"Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x9c\x93", "\xff\xfe raw high bytes \x80")...)
	got, out, err := svSwaks(t, r.s.Addr, "--ehlo", "eight.client.test", "--from", "sender@example.com", "--to", rcpt, "--data", data)
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	id := svCheckSwaks(t, got, svSwaksWant(svEHLO(svSmallSize, svExtTLS)), out)
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "eight.client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
}

// svRaw8BitMIME sends MAIL FROM with BODY=8BITMIME, which sluice must
// pass on to a downstream that offers 8BITMIME.
func svRaw8BitMIME(t *testing.T, r *svSwaksRig) {
	rcpt := "eightparam@example.org"
	c := svOpen(t, r.s.Addr, "", "eightparam.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com> BODY=8BITMIME", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	c.cmd("DATA", "354 End data with <CR><LF>.<CR><LF>")
	content := svCRLF(strings.Join(svMessage(rcpt, "8bit param", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac"), "\n") + "\n")
	c.write(string(svStuff(content)) + ".\r\n")
	id := c.match(svQueuedRE)
	c.quit()
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "eightparam.client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
	if want := "MAIL FROM:<sender@example.com> BODY=8BITMIME"; m.Mail != want {
		t.Errorf("downstream %q, want %q", m.Mail, want)
	}
}

func svSwaksTooBig(t *testing.T, r *svSwaksRig) {
	rcpt := "toobig@example.org"
	body := make([]string, 0, 1100)
	for i := range 1100 {
		body = append(body, fmt.Sprintf("%04d %s", i, strings.Repeat("x", 60)))
	}
	data, _ := svSwaksData(t, t.TempDir(), "big", svMessage(rcpt, "too big", body...)...)
	got, out, err := svSwaks(t, r.s.Addr, "--ehlo", "big.client.test", "--from", "sender@example.com", "--to", rcpt, "--data", data)
	if err == nil {
		t.Fatalf("swaks exited 0 for a message over the limit:\n%s", svShort(out))
	}
	want := svSwaksWant(svEHLO(svSmallSize, svExtTLS))
	want[len(want)-2] = svTooBig
	if !slices.Equal(got, want) {
		t.Fatalf("swaks replies:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	svNothingFor(t, r.sink, r.s, rcpt)
}

// svSizeParam checks SIZE= on MAIL against the limit, to the octet.
func svSizeParam(t *testing.T, r *svSwaksRig) {
	c := svOpen(t, r.s.Addr, "", "size.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd(fmt.Sprintf("MAIL FROM:<sender@example.com> SIZE=%d", svSmallSize+1), svTooBig)
	c.cmd(fmt.Sprintf("MAIL FROM:<sender@example.com> SIZE=%d", svSmallSize), "250 2.1.0 Ok")
	c.cmd("RSET", "250 2.0.0 Ok")
	c.quit()
}

// svBDAT sends a message in three BDAT chunks, with a CRLF split across
// two of them and a line starting with a dot, which sluice must
// dot-stuff on the way downstream.
func svBDAT(t *testing.T, r *svSwaksRig) {
	rcpt := "bdat@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "bdat raw", "chunked", ".dot line", "..two dots", "end"), "\n") + "\n")
	cut1, cut2 := 40, len(content)-12
	for content[cut2-1] != '\r' {
		cut2-- // end the second chunk between a CR and its LF
	}
	c := svOpen(t, r.s.Addr, "", "bdat.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	c.write(fmt.Sprintf("BDAT %d\r\n%s", cut1, content[:cut1]))
	c.expect(fmt.Sprintf("250 2.0.0 %d octets received", cut1))
	c.write(fmt.Sprintf("BDAT %d\r\n%s", cut2-cut1, content[cut1:cut2]))
	c.expect(fmt.Sprintf("250 2.0.0 %d octets received", cut2-cut1))
	c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(content)-cut2, content[cut2:]))
	id := c.match(svQueuedRE)
	c.cmd("DATA", "503 5.5.1 Need MAIL command")
	c.quit()
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "bdat.client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, content)
}

// svBDATNoFinalCRLF sends BDAT content whose last line has no CRLF,
// which BDAT allows: sluice ends it with CRLF on the way downstream.
func svBDATNoFinalCRLF(t *testing.T, r *svSwaksRig) {
	rcpt := "bdatnocrlf@example.org"
	content := svCRLF(strings.Join(svMessage(rcpt, "bdat no final crlf", "unterminated"), "\n"))
	c := svOpen(t, r.s.Addr, "", "bdat.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	c.write(fmt.Sprintf("BDAT %d LAST\r\n%s", len(content), content))
	id := c.match(svQueuedRE)
	c.quit()
	m := r.sink.waitOne(t, rcpt)
	svCheckRelayed(t, m, svReceived{Helo: "bdat.client.test", Name: "unknown", Addr: "127.0.0.1", Proto: "ESMTP", For: rcpt}, id, append(content, "\r\n"...))
}

// svBDATTooBig sends BDAT chunks that add up to more than
// max_message_size (refused, the session goes on), then one chunk
// announced larger than that (refused, the session ends).
func svBDATTooBig(t *testing.T, r *svSwaksRig) {
	rcpt := "bdatbig@example.org"
	chunk := strings.Repeat(strings.Repeat("y", 98)+"\r\n", 400) // 40,000 octets
	c := svOpen(t, r.s.Addr, "", "bdatbig.client.test", svEHLO(svSmallSize, svExtTLS))
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	c.write(fmt.Sprintf("BDAT %d\r\nSubject: big\r\n\r\n%s", len(chunk)+len("Subject: big\r\n\r\n"), chunk))
	c.expect(fmt.Sprintf("250 2.0.0 %d octets received", len(chunk)+len("Subject: big\r\n\r\n")))
	c.write(fmt.Sprintf("BDAT %d\r\n%s", len(chunk), chunk))
	c.expect(svTooBig)
	c.write("BDAT 4 LAST\r\nend\n")
	c.expect(svTooBig)
	c.cmd("NOOP", "250 2.0.0 Ok")
	c.cmd("MAIL FROM:<sender@example.com>", "250 2.1.0 Ok")
	c.cmd("RCPT TO:<"+rcpt+">", "250 2.1.5 Ok")
	c.write(fmt.Sprintf("BDAT %d LAST\r\n", svSmallSize+1)) // the chunk itself is not sent
	c.expect(svTooBig)
	c.closed()
	svNothingFor(t, r.sink, r.s, rcpt)
}

// svNothingFor checks that no message for rcpt reached the sink once the
// spool is empty (a refused message is never queued).
func svNothingFor(t *testing.T, sink *svSink, s *svSluice, rcpt string) {
	t.Helper()
	s.waitQueueEmpty(t)
	if got := sink.to(rcpt); len(got) != 0 {
		t.Fatalf("raw sink got %d messages for <%s>, want none", len(got), rcpt)
	}
}
