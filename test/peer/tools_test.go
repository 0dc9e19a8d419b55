package peer

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// skipRecorder records a Skipf instead of skipping the real test.
type skipRecorder struct {
	testing.TB
	skipped string
}

func (r *skipRecorder) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// need runs Need on a recorder and returns the skip message, if any.
func need(t *testing.T, programs ...string) string {
	r := &skipRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Need(r, programs...)
	}()
	<-done
	return r.skipped
}

func TestNeed(t *testing.T) {
	if got, want := need(t, "peer-no-such-program"), "needs peer-no-such-program (Debian package peer-no-such-program): not installed"; got != want {
		t.Errorf("skip %q, want %q", got, want)
	}
	// An installed program passes; "sh" is on every machine that runs this.
	if got := need(t, "sh"); got != "" {
		t.Errorf("skipped for sh: %q", got)
	}
	if got := need(t, "sh", "peer-missing-too"); !strings.HasPrefix(got, "needs peer-missing-too ") {
		t.Errorf("skip %q for the second program", got)
	}
}

func TestDebianPackage(t *testing.T) {
	for program, want := range map[string]string{
		"postfix": "postfix", "smtp-sink": "postfix", "postqueue": "postfix",
		"swaks": "swaks", "miltertest": "miltertest", "opendkim-genkey": "opendkim-tools",
	} {
		if got := debianPackage(program); got != want {
			t.Errorf("debianPackage(%q) = %q, want %q", program, got, want)
		}
	}
}

func TestFreePort(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d is not free: %v", port, err)
	}
	l.Close()
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		line string
		want procInfo
		ok   bool
	}{
		{"42 (master) S 1 42 42 0 -1 4194560 ...", procInfo{42, 1, 42, 'S'}, true},
		{"7 (odd) name)) Z 42 42 42 0", procInfo{7, 42, 42, 'Z'}, true},
		{"7 (x) S", procInfo{}, false},
		{"x (y) S 1 2", procInfo{}, false},
		{"", procInfo{}, false},
	}
	for _, tc := range tests {
		got, ok := parseProcStat(tc.line)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseProcStat(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.ok)
		}
	}
	self, ok := readProc(os.Getpid())
	if !ok || self.pid != os.Getpid() || self.ppid != os.Getppid() || !self.live() {
		t.Errorf("readProc(self) = %+v, %v", self, ok)
	}
}

func TestParseProcNetListen(t *testing.T) {
	tests := []struct {
		line  string
		ip    string
		port  int
		inode string
		ok    bool
	}{
		{"   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 12345 1 0", "127.0.0.1", 25, "12345", true},
		{"   1: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0", "::1", 8080, "999", true},
		{"   2: 0100007F:0019 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1 1 0", "", 0, "", false},
		{"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode", "", 0, "", false},
	}
	for _, tc := range tests {
		l, ok := parseProcNetListen(tc.line)
		if ok != tc.ok || (ok && (!l.ip.Equal(net.ParseIP(tc.ip)) || l.port != tc.port || l.inode != tc.inode)) {
			t.Errorf("parseProcNetListen(%q) = %+v, %v", tc.line, l, ok)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if !listens(os.Getpid(), "127.0.0.1", port) {
		t.Errorf("listens: this process's listener on %d not found", port)
	}
	if listens(os.Getppid(), "127.0.0.1", port) {
		t.Errorf("listens: the parent process does not hold port %d", port)
	}
}

func TestParseLayoutLine(t *testing.T) {
	vars := map[string]string{"$queue_directory": "/q", "$data_directory": "/d", "$mail_owner": "root", "$setgid_group": "root"}
	tests := []struct {
		line string
		want layoutDir
		ok   bool
	}{
		{"$queue_directory/active:d:$mail_owner:-:700:ucr", layoutDir{"/q/active", 0, -1, 0o700}, true},
		{"$queue_directory/maildrop:d:$mail_owner:$setgid_group:730:uc", layoutDir{"/q/maildrop", 0, 0, 0o730}, true},
		{"$queue_directory:d:root:-:755:uc", layoutDir{"/q", 0, -1, 0o755}, true},
		{"$data_directory:d:$mail_owner:-:700:uc", layoutDir{"/d", 0, -1, 0o700}, true},
		{"$command_directory/postqueue:f:root:$setgid_group:2755:u", layoutDir{}, false},
		{"$meta_directory:d:root:-:755:u", layoutDir{}, false},
		{"# comment", layoutDir{}, false},
	}
	for _, tc := range tests {
		got, ok, err := parseLayoutLine(tc.line, vars)
		if err != nil || ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("parseLayoutLine(%q) = %+v, %v, %v; want %+v", tc.line, got, ok, err, tc.want)
		}
	}
	if _, _, err := parseLayoutLine("$queue_directory/x:d:root:-:9z:u", vars); err == nil {
		t.Error("bad mode accepted")
	}
}

func TestRenderMainCF(t *testing.T) {
	got, err := renderMainCF(map[string]string{"b": "2", "a": "$b, x", "empty": ""})
	want := "# Written by the sluice test harness (test/peer).\na = $b, x\nb = 2\nempty = \n"
	if err != nil || got != want {
		t.Errorf("renderMainCF = %q, %v; want %q", got, err, want)
	}
	for _, bad := range []map[string]string{{"a": "x\ny"}, {"a b": "x"}, {"": "x"}, {"a=b": "x"}} {
		if _, err := renderMainCF(bad); err == nil {
			t.Errorf("renderMainCF(%q) accepted", bad)
		}
	}
}

func TestMainCF(t *testing.T) {
	p := &Postfix{Dir: "/i", QueueDir: "/i/queue", DataDir: "/i/data", LogFile: "/i/postfix.log", Host: "127.0.0.1", Hostname: "h.test"}
	install := map[string]string{"daemon_directory": "/usr/lib/postfix/sbin"}
	tests := []struct {
		name string
		opts PostfixOptions
		want map[string]string // "" value: must be absent
	}{
		{"no relay", PostfixOptions{}, map[string]string{
			"default_transport": "retry:4.4.0 no relay configured for this test instance", "relayhost": "",
			"myhostname": "h.test", "inet_protocols": "ipv4", "daemon_directory": "/usr/lib/postfix/sbin",
			"maillog_file": "/i/postfix.log", "maillog_file_prefixes": "/i", "queue_directory": "/i/queue",
		}},
		{"relay", PostfixOptions{Relay: "127.0.0.1:2525"}, map[string]string{"relayhost": "[127.0.0.1]:2525", "default_transport": ""}},
		{"relay v6", PostfixOptions{Relay: "[::1]:2525"}, map[string]string{"relayhost": "[ipv6:::1]:2525"}},
		{"own transport", PostfixOptions{Main: map[string]string{"default_transport": "lmtp:inet:127.0.0.1:24"}},
			map[string]string{"default_transport": "lmtp:inet:127.0.0.1:24"}},
		{"override", PostfixOptions{Main: map[string]string{"smtputf8_enable": "yes", "relayhost": "[x]:1"}},
			map[string]string{"smtputf8_enable": "yes", "relayhost": "[x]:1", "default_transport": ""}},
	}
	for _, tc := range tests {
		m := p.mainCF(tc.opts, install)
		for k, want := range tc.want {
			if got, ok := m[k]; got != want || ok != (want != "") {
				t.Errorf("%s: %s = %q (set %v), want %q", tc.name, k, got, ok, want)
			}
		}
	}
	master := p.renderMasterCF([]string{"extra unix - - n - - discard"})
	if !strings.HasPrefix(master, "# Written by the sluice test harness (test/peer).\n127.0.0.1:0 inet n - n - - smtpd\n") ||
		!strings.HasSuffix(master, "postlog    unix-dgram n - n - 1 postlogd\nextra unix - - n - - discard\n") {
		t.Errorf("master.cf:\n%s", master)
	}
}

func TestSocketPath(t *testing.T) {
	path := SocketPath(t, "s.sock")
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 || filepath.Base(path) != "s.sock" {
		t.Fatalf("SocketPath %q: dir %v, %v", path, fi, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	AllowPostfix(t, path)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("socket mode %v, %v; want 0666", fi.Mode(), err)
	}
}
