package config

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestLoadValidation feeds one bad file per case and expects exactly the
// listed errors, in order; "F" stands for the file's path.
func TestLoadValidation(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		body string
		want []string
	}{
		// Unknown keys and shapes.
		{"unknown top key", `hostnme = "a"`, []string{`F: hostnme: unknown key (did you mean "hostname"?)`}},
		{"unknown smtp key", "[smtp]\nmax_recipents = 3", []string{`F: smtp.max_recipents: unknown key (did you mean "max_recipients"?)`}},
		{"unknown key far from any", "[smtp]\nfrobnicate = 1", []string{`F: smtp.frobnicate: unknown key`}},
		{"upper-case key", `Hostname = "a"`, []string{`F: Hostname: unknown key (did you mean "hostname"?)`}},
		{"unknown table", "[smpt]\nlisten = []", []string{`F: smpt: unknown key (did you mean "smtp"?)`}},
		{"unknown filter", "[filters.nosuch]", []string{`F: filters.nosuch: unknown filter (have access, dkim, dmarc, dnsbl, greylist, headers, ratelimit, spf)`}},
		{"unknown milter key", "[[milters]]\nadress = \"inet:1@127.0.0.1\"", []string{
			`F: milters[0].adress: unknown key (did you mean "address"?)`,
			`F: milters[0].address: missing (want unix:/path, inet:port@host or inet6:port@host)`}},
		{"unknown rule key", "[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\nactoin = \"x\"",
			[]string{`F: filters.access.rules[0].actoin: unknown key (did you mean "action"?)`}},
		{"table as value", `smtp = 3`, []string{`F: smtp: want a table ([smtp]), got integer 3`}},
		{"milters as table", "[milters]\nname = \"x\"", []string{`F: milters: want an array of tables ([[milters]]), got a table`}},
		{"milters entry not a table", `milters = [1]`, []string{`F: milters[0]: want a table, got integer 1`}},
		{"filters as value", `filters = "headers"`, []string{`F: filters: want a table ([filters]), got string "headers"`}},

		// Top level.
		{"hostname type", `hostname = 3`, []string{`F: hostname: want a string, got integer 3`}},
		{"hostname syntax", `hostname = "bad host"`, []string{`F: hostname: bad host name "bad host"`}},
		{"data_dir empty", `data_dir = ""`, []string{`F: data_dir: must not be empty`}},
		{"log_level", `log_level = "loud"`, []string{`F: log_level: unknown log level "loud" (want debug, info, warn, error)`}},

		// [smtp]
		{"listen empty", "[smtp]\nlisten = []", []string{`F: smtp.listen: must list at least one host:port`}},
		{"listen string", "[smtp]\nlisten = \"127.0.0.1:25\"", []string{`F: smtp.listen: want an array of strings, got string "127.0.0.1:25"`}},
		{"listen port", "[smtp]\nlisten = [\"127.0.0.1:99999\"]", []string{`F: smtp.listen[0]: bad address "127.0.0.1:99999": bad port "99999"`}},
		{"listen no port", "[smtp]\nlisten = [\"127.0.0.1\"]", []string{`F: smtp.listen[0]: bad address "127.0.0.1" (want host:port)`}},
		{"relay domain", "[smtp]\nrelay_domains = [\"exa mple.org\"]", []string{`F: smtp.relay_domains[0]: bad domain "exa mple.org"`}},
		{"relay subdomains of nothing", "[smtp]\nrelay_domains = [\".example.org\", \"..x\"]", []string{`F: smtp.relay_domains[1]: bad domain "..x"`}},
		{"smtp timeout", "[smtp]\ncommand_timeout = \"0s\"", []string{`F: smtp.command_timeout: must be > 0`}},
		{"cidr", "[smtp]\ntrusted_networks = [\"10.0.0.0/33\"]",
			[]string{`F: smtp.trusted_networks[0]: bad network "10.0.0.0/33" (want an address or CIDR such as 192.0.2.0/24)`}},
		{"network item type", "[smtp]\nxclient_hosts = [1]", []string{`F: smtp.xclient_hosts[0]: want a string, got integer 1`}},
		{"network host bits", "[smtp]\ntrusted_networks = [\"10.1.2.3/8\"]",
			[]string{`F: smtp.trusted_networks[0]: network 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)`}},
		{"network name", "[smtp]\nxforward_hosts = [\"localhost\"]",
			[]string{`F: smtp.xforward_hosts[0]: bad network "localhost" (want an address or CIDR such as 192.0.2.0/24)`}},
		{"size unit", "[smtp]\nmax_message_size = \"50Mb/s\"",
			[]string{`F: smtp.max_message_size: bad size unit in "50Mb/s" (want B, kB, MB, GB, TB, KiB, MiB, GiB or TiB)`}},
		{"size zero", "[smtp]\nmax_message_size = 0", []string{`F: smtp.max_message_size: must be > 0`}},
		{"size negative", "[smtp]\nmax_message_size = -5", []string{`F: smtp.max_message_size: must be >= 0, got -5`}},
		{"size float", "[smtp]\nmax_message_size = 1.5",
			[]string{`F: smtp.max_message_size: want a size such as "50MiB" or a number of bytes, got float 1.5`}},
		{"max_recipients", "[smtp]\nmax_recipients = -1", []string{`F: smtp.max_recipients: must be > 0, got -1`}},
		{"max_connections type", "[smtp]\nmax_connections = \"many\"", []string{`F: smtp.max_connections: want an integer, got "many"`}},
		{"max_connections_per_ip", "[smtp]\nmax_connections_per_ip = 0", []string{`F: smtp.max_connections_per_ip: must be > 0, got 0`}},
		{"int range", "[smtp]\nmax_recipients = 99999999999", []string{`F: smtp.max_recipients: out of range: 99999999999`}},
		{"bare_lf", "[smtp]\nbare_lf = \"allow\"", []string{`F: smtp.bare_lf: unknown policy "allow" (want reject, normalize)`}},
		{"tls half", "[smtp.tls]\ncert_file = \"c.pem\"", []string{`F: smtp.tls: cert_file and key_file go together: set both or neither`}},
		{"resolve_client_names type", "[smtp]\nresolve_client_names = \"yes\"", []string{`F: smtp.resolve_client_names: want true or false, got "yes"`}},
		{"resolve typo", "[smtp]\nresolve_client_name = false", []string{`F: smtp.resolve_client_name: unknown key (did you mean "resolve_client_names"?)`}},
		{"dns_timeout zero", "[smtp]\ndns_timeout = \"0s\"", []string{`F: smtp.dns_timeout: must be > 0`}},
		{"dns_timeout number", "[smtp]\ndns_timeout = 5", []string{`F: smtp.dns_timeout: want a duration such as "30s", "5m" or "5d", got integer 5`}},
		{"verify with maildir", "[smtp]\nverify_recipients = true",
			[]string{`F: smtp.verify_recipients: needs an smtp or lmtp downstream; downstream.address "maildir:./var/mail" is a maildir`}},
		{"verify_recipients type", "[smtp]\nverify_recipients = \"yes\"\n[downstream]\naddress = \"smtp://127.0.0.1:25\"",
			[]string{`F: smtp.verify_recipients: want true or false, got "yes"`}},
		{"verify_on_error", "[smtp]\nverify_on_error = \"reject\"", []string{`F: smtp.verify_on_error: unknown action "reject" (want tempfail, accept)`}},
		{"verify_cache_ttl zero", "[smtp]\nverify_cache_ttl = \"0s\"", []string{`F: smtp.verify_cache_ttl: must be > 0`}},
		{"verify_negative_ttl", "[smtp]\nverify_negative_ttl = \"soon\"", []string{`F: smtp.verify_negative_ttl: bad duration "soon" (want e.g. "30s", "5m", "1h30m", "5d")`}},
		{"verify_timeout zero", "[smtp]\nverify_timeout = \"0s\"", []string{`F: smtp.verify_timeout: must be > 0`}},

		// [queue]
		{"retry empty", "[queue]\nretry = []", []string{`F: queue.retry: must list at least one delay`}},
		{"retry item", "[queue]\nretry = [\"1m\", \"soon\"]",
			[]string{`F: queue.retry[1]: bad duration "soon" (want e.g. "30s", "5m", "1h30m", "5d")`}},
		{"retry zero", "[queue]\nretry = [\"0s\"]", []string{`F: queue.retry[0]: must be > 0`}},
		{"max_age", "[queue]\nmax_age = \"5x\"", []string{`F: queue.max_age: bad duration "5x" (want e.g. "30s", "5m", "1h30m", "5d")`}},
		{"max_age zero", "[queue]\nmax_age = \"0\"", []string{`F: queue.max_age: must be > 0`}},
		{"log_max_message too big", "[queue]\nlog_max_message = \"65MiB\"",
			[]string{`F: queue.log_max_message: must be at most 64MiB (bodies up to this size are held in memory), got 68157440`}},
		{"segment_size too small", "[queue]\nsegment_size = \"4KiB\"", []string{`F: queue.segment_size: must be at least 64KiB, got 4096`}},
		{"duration number", "[queue]\nmax_age = 5", []string{`F: queue.max_age: want a duration such as "30s", "5m" or "5d", got integer 5`}},

		// [downstream]
		{"downstream scheme", "[downstream]\naddress = \"http://a:1\"",
			[]string{`F: downstream.address: bad downstream "http://a:1": unknown scheme "http" (want smtp, lmtp, lmtp+unix or maildir)`}},
		{"downstream tls", "[downstream]\ntls = \"always\"",
			[]string{`F: downstream.tls: unknown TLS policy "always" (want none, opportunistic, required, verify)`}},
		{"downstream bool", "[downstream]\nxclient = \"yes\"", []string{`F: downstream.xclient: want true or false, got "yes"`}},

		// [[milters]]
		{"milter address", "[[milters]]\naddress = \"inet:8891\"",
			[]string{`F: milters[0].address: "inet:8891": want a host and a non-zero port to dial`}},
		{"milter port 0", "[[milters]]\naddress = \"inet:0@127.0.0.1\"",
			[]string{`F: milters[0].address: "inet:0@127.0.0.1": want a host and a non-zero port to dial`}},
		{"milter socket", "[[milters]]\naddress = \"127.0.0.1:8891\"",
			[]string{`F: milters[0].address: bad socket "127.0.0.1:8891": unknown type "127.0.0.1" (want unix, local, inet or inet6)`}},
		{"milter action", "[[milters]]\naddress = \"unix:/m\"\ndefault_action = \"tmpfail\"",
			[]string{`F: milters[0].default_action: unknown action "tmpfail" (want accept, tempfail, reject, quarantine, shutdown)`}},
		{"milter timeouts", "[[milters]]\naddress = \"unix:/m\"\nconnect_timeout = \"0s\"\ncommand_timeout = \"x\"\neom_timeout = 3", []string{
			`F: milters[0].connect_timeout: must be > 0`,
			`F: milters[0].command_timeout: bad duration "x" (want e.g. "30s", "5m", "1h30m", "5d")`,
			`F: milters[0].eom_timeout: want a duration such as "30s", "5m" or "5d", got integer 3`}},
		{"milter reuse", "[[milters]]\naddress = \"unix:/m\"\nmax_idle_conns = -1\nidle_timeout = \"0s\"", []string{
			`F: milters[0].max_idle_conns: must be >= 0, got -1`,
			`F: milters[0].idle_timeout: must be > 0`}},
		{"milter reuse types", "[[milters]]\naddress = \"unix:/m\"\nmax_idle_conns = \"many\"\nidle_timeout = 30", []string{
			`F: milters[0].max_idle_conns: want an integer, got "many"`,
			`F: milters[0].idle_timeout: want a duration such as "30s", "5m" or "5d", got integer 30`}},
		{"milter duplicate", "[[milters]]\nname = \"a\"\naddress = \"unix:/m\"\n[[milters]]\nname = \"a\"\naddress = \"unix:/n\"",
			[]string{`F: milters[1].name: duplicate name "a" (also milters[0])`}},

		// [milter_server]
		{"server listen", "[milter_server]\nlisten = \"inet:99999@127.0.0.1\"",
			[]string{`F: milter_server.listen: bad socket "inet:99999@127.0.0.1": bad port "99999"`}},
		{"server max_connections", "[milter_server]\nmax_connections = 0", []string{`F: milter_server.max_connections: must be > 0, got 0`}},
		{"server timeouts", "[milter_server]\nread_timeout = \"0s\"\nwrite_timeout = \"-1s\"\nshutdown_timeout = \"later\"\nprogress_interval = \"0\"", []string{
			`F: milter_server.read_timeout: must be > 0`,
			`F: milter_server.write_timeout: negative duration "-1s"`,
			`F: milter_server.shutdown_timeout: bad duration "later" (want e.g. "30s", "5m", "1h30m", "5d")`,
			`F: milter_server.progress_interval: must be > 0`}},
		{"server failure_action", "[milter_server]\nfailure_action = \"discard\"",
			[]string{`F: milter_server.failure_action: unknown action "discard" (want tempfail, reject, accept)`}},
		{"server max_packet", "[milter_server]\nmax_packet = \"-1\"",
			[]string{`F: milter_server.max_packet: bad size "-1" (want bytes or e.g. "64KiB", "50MiB", "1GB")`}},

		// [metrics]
		{"metrics listen", "[metrics]\nlisten = \"9425\"", []string{`F: metrics.listen: bad address "9425" (want host:port)`}},

		// [filters.headers]
		{"header add", "[filters.headers]\nadd = [\"X-No-Colon\", \"Bad Name: v\", \"X-A: a\\r\\nX-B: b\"]", []string{
			`F: filters.headers.add[0]: want "Name: value", got "X-No-Colon"`,
			`F: filters.headers.add[1]: bad header name "Bad Name"`,
			`F: filters.headers.add[2]: header value must not contain CR, LF or NUL`}},
		{"header add string", "[filters.headers]\nadd = \"X-A: 1\"", []string{`F: filters.headers.add: want an array of strings, got string "X-A: 1"`}},
		{"header remove", "[filters.headers]\nremove = [\"X:Y\"]", []string{`F: filters.headers.remove[0]: bad header name "X:Y"`}},

		// [[filters.access.rules]]: the shape only. Patterns, replies and
		// reasons are filter/access's to judge: see TestLoadLeavesRules here,
		// TestNewErrors there and cmd/sluice's TestCheckConfigAccessRules.
		{"rule no match", "[[filters.access.rules]]\naction = \"reject\"",
			[]string{`F: filters.access.rules[0]: want exactly one of client, helo, sender, recipient; got 0`}},
		{"rule two matches", "[[filters.access.rules]]\nclient = \"192.0.2.1\"\nhelo = \"x\"\naction = \"reject\"",
			[]string{`F: filters.access.rules[0]: want exactly one of client, helo, sender, recipient; got 2`}},
		{"rule empty helo is unset", "[[filters.access.rules]]\nclient = \"192.0.2.0/24\"\nhelo = \"\"\naction = \"rejct\"",
			[]string{`F: filters.access.rules[0].action: unknown action "rejct" (want reject, tempfail, discard, quarantine, accept)`}},
		{"rule no action", "[[filters.access.rules]]\nclient = \"192.0.2.1\"",
			[]string{`F: filters.access.rules[0].action: unknown action "" (want reject, tempfail, discard, quarantine, accept)`}},
		{"rule action case", "[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"Reject\"",
			[]string{`F: filters.access.rules[0].action: unknown action "Reject" (want reject, tempfail, discard, quarantine, accept)`}},
		{"rule types", "[[filters.access.rules]]\nclient = 1\nsender = \"<>\"\naction = \"reject\"\nreply = 550\nreason = true", []string{
			`F: filters.access.rules[0].client: want a string, got integer 1`,
			`F: filters.access.rules[0].reply: want a string, got integer 550`,
			`F: filters.access.rules[0].reason: want a string, got boolean true`}},
		{"rule not a table", "[filters.access]\nrules = [\"x\"]", []string{`F: filters.access.rules[0]: want a table, got string "x"`}},
		{"rule index", "[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\n" +
			"[[filters.access.rules]]\nhelo = \"a\"\naction = \"accept\"\n[[filters.access.rules]]\nhelo = \"b\"\naction = \"rejct\"",
			[]string{`F: filters.access.rules[2].action: unknown action "rejct" (want reject, tempfail, discard, quarantine, accept)`}},

		// Everything is reported at once.
		{"several", "hostnme = \"a\"\n[smtp]\nmax_recipients = -1\nbare_lf = \"x\"\n[queue]\nmax_age = \"5x\"", []string{
			`F: hostnme: unknown key (did you mean "hostname"?)`,
			`F: smtp.max_recipients: must be > 0, got -1`,
			`F: smtp.bare_lf: unknown policy "x" (want reject, normalize)`,
			`F: queue.max_age: bad duration "5x" (want e.g. "30s", "5m", "1h30m", "5d")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantLoadErrors(t, tt.body, tt.want)
		})
	}
}

// TestLoadLeavesRules: rules whose patterns, replies or reasons the access
// filter refuses load as written. Load checks their shape only; the
// filter is the one judge of the rest (these are the cases Load judged
// itself before; filter/access and cmd/sluice test them now).
func TestLoadLeavesRules(t *testing.T) {
	clearEnv(t)
	rules := []AccessRule{
		{Client: "192.0.2.0/40", Action: "reject"},
		{Sender: "/[a/", Action: "reject"},
		{HELO: "two words", Action: "reject"},
		{HELO: "user@example.org", Action: "reject"},
		{Recipient: "<>", Action: "reject"},
		{Client: "192.0.2.1/24", Action: "reject"},
		{Client: "192.0.2.1", Action: "reject", Reply: "550 5.7.1 no\n450 later"},
		{Client: "192.0.2.1", Action: "reject", Reply: "550 no\r\n550 no"},
		{Client: "192.0.2.1", Action: "discard", Reply: "550 no"},
		{Client: "192.0.2.1", Action: "tempfail", Reply: "550 5.7.1 no"},
		{Client: "192.0.2.1", Action: "reject", Reply: "554 4.7.1 no"},
		{Client: "192.0.2.1", Action: "reject", Reply: "5x0 no"},
		{Client: "192.0.2.1", Action: "reject", Reason: "why"},
	}
	var b strings.Builder
	for _, r := range rules {
		b.WriteString("[[filters.access.rules]]\n")
		k, p := r.Match()
		fmt.Fprintf(&b, "%s = %q\naction = %q\n", k, p, r.Action)
		if r.Reply != "" {
			fmt.Fprintf(&b, "reply = %q\n", r.Reply)
		}
		if r.Reason != "" {
			fmt.Fprintf(&b, "reason = %q\n", r.Reason)
		}
	}
	cfg, err := Load(LoadOptions{File: writeConfig(t, b.String())})
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	if !reflect.DeepEqual(cfg.Filters.Access, &AccessFilter{Rules: rules}) {
		t.Errorf("Filters.Access =\n%+v\nwant\n%+v", cfg.Filters.Access, rules)
	}
}
