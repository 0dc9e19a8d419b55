package peer

import (
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// installDirs are the parameters that locate Postfix's own programs and
// files; an instance takes them from the installed defaults (postconf -d).
func installDirs() []string {
	return []string{"command_directory", "daemon_directory", "meta_directory", "shlib_directory"}
}

// mainCF returns the main.cf parameters of an instance: a loopback-only
// Postfix that relays mail from 127.0.0.0/8 and ::1 and delivers nothing
// locally, with opts.Main laid over it.
func (p *Postfix) mainCF(opts PostfixOptions, install map[string]string) map[string]string {
	protocols := "ipv4"
	if strings.Contains(p.Host, ":") {
		protocols = "all"
	}
	m := map[string]string{
		"compatibility_level":      "3.6",
		"queue_directory":          p.QueueDir,
		"data_directory":           p.DataDir,
		"mail_owner":               "postfix",
		"setgid_group":             "postdrop",
		"myhostname":               p.Hostname,
		"myorigin":                 "$myhostname",
		"mydestination":            "",
		"inet_interfaces":          "loopback-only",
		"inet_protocols":           protocols,
		"mynetworks":               "127.0.0.0/8 [::1]/128",
		"smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
		"alias_maps":               "",
		"alias_database":           "",
		"smtputf8_enable":          "no",
		"append_dot_mydomain":      "no",
		"biff":                     "no",
		"in_flow_delay":            "0",
		"smtp_host_lookup":         "native",
		"lmtp_host_lookup":         "native",
		"maillog_file":             p.LogFile,
		"maillog_file_prefixes":    p.Dir,
	}
	maps.Copy(m, install)
	switch {
	case opts.Relay != "":
		host, port, _ := net.SplitHostPort(opts.Relay)
		if strings.Contains(host, ":") {
			host = "ipv6:" + host
		}
		m["relayhost"] = "[" + host + "]:" + port
	case !hasAny(opts.Main, "relayhost", "default_transport", "transport_maps"):
		// Never let a test's mail leave for the Internet: smtpd refuses
		// recipients that resolve to the retry transport.
		m["default_transport"] = "retry:4.4.0 no relay configured for this test instance"
	}
	maps.Copy(m, opts.Main)
	return m
}

// hasAny reports whether m has any of the keys.
func hasAny(m map[string]string, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// renderMainCF writes parameters as main.cf lines, sorted by name.
func renderMainCF(params map[string]string) (string, error) {
	var b strings.Builder
	b.WriteString("# Written by the sluice test harness (test/peer).\n")
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		if k == "" || strings.ContainsAny(k, " \t\r\n=#") || strings.ContainsAny(v, "\r\n") {
			return "", fmt.Errorf("bad main.cf parameter %q = %q", k, v)
		}
		fmt.Fprintf(&b, "%s = %s\n", k, v)
	}
	return b.String(), nil
}

// masterServices are the master.cf services besides the SMTP listener:
// those Postfix 3.7 needs to receive, queue, relay, bounce and log mail.
// Nothing runs chrooted, so unix sockets anywhere (a milter's) are in
// reach and nothing needs copying into a jail.
func masterServices() []string {
	return []string{
		"pickup     unix  n - n 60    1 pickup",
		"cleanup    unix  n - n -     0 cleanup",
		"qmgr       unix  n - n 300   1 qmgr",
		"tlsmgr     unix  - - n 1000? 1 tlsmgr",
		"rewrite    unix  - - n -     - trivial-rewrite",
		"bounce     unix  - - n -     0 bounce",
		"defer      unix  - - n -     0 bounce",
		"trace      unix  - - n -     0 bounce",
		"verify     unix  - - n -     1 verify",
		"flush      unix  n - n 1000? 0 flush",
		"proxymap   unix  - - n -     - proxymap",
		"proxywrite unix  - - n -     1 proxymap",
		"smtp       unix  - - n -     - smtp",
		"relay      unix  - - n -     - smtp",
		"showq      unix  n - n -     - showq",
		"error      unix  - - n -     - error",
		"retry      unix  - - n -     - error",
		"discard    unix  - - n -     - discard",
		"local      unix  - n n -     - local",
		"lmtp       unix  - - n -     - lmtp",
		"anvil      unix  - - n -     1 anvil",
		"scache     unix  - - n -     1 scache",
		"postlog    unix-dgram n - n - 1 postlogd",
	}
}

// renderMasterCF returns master.cf: the SMTP listener on the instance's
// address, the internal services, and the caller's extra lines.
func (p *Postfix) renderMasterCF(extra []string) string {
	var b strings.Builder
	b.WriteString("# Written by the sluice test harness (test/peer).\n")
	fmt.Fprintf(&b, "%s inet n - n - - smtpd\n", net.JoinHostPort(p.Host, strconv.Itoa(p.Port)))
	for _, line := range masterServices() {
		b.WriteString(line + "\n")
	}
	for _, line := range extra {
		b.WriteString(line + "\n")
	}
	return b.String()
}

// writeConfig writes main.cf and master.cf into ConfigDir.
func (p *Postfix) writeConfig(opts PostfixOptions, install map[string]string) error {
	main, err := renderMainCF(p.mainCF(opts, install))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.ConfigDir, "main.cf"), []byte(main), 0o644); err != nil {
		return err
	}
	master := p.renderMasterCF(opts.Master)
	if err := os.WriteFile(filepath.Join(p.ConfigDir, "master.cf"), []byte(master), 0o644); err != nil {
		return err
	}
	return p.ageConfig()
}

// ageConfig dates main.cf and master.cf a minute back. Postfix reads a
// configuration file again and again, pausing in between, until it has
// not changed in the last second or two, so as not to read one that is
// still being written; these files are complete, and each start or reload
// would otherwise wait for nothing.
func (p *Postfix) ageConfig() error {
	past := time.Now().Add(-time.Minute)
	for _, name := range []string{"main.cf", "master.cf"} {
		if err := os.Chtimes(filepath.Join(p.ConfigDir, name), past, past); err != nil {
			return err
		}
	}
	return nil
}
