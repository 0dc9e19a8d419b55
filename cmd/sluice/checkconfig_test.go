package main

import (
	"strings"
	"testing"
)

// TestCheckConfigAccessRules: check-config prints the access filter's
// verdict on each bad rule as "FILE: filters.access.rules[N].KEY: …",
// one line each. These cases were package config's own checks before
// filter/access became their one judge; the lines are what config
// printed then, byte for byte.
func TestCheckConfigAccessRules(t *testing.T) {
	const head = "[[filters.access.rules]]\n"
	tests := []struct {
		name string
		body string
		want string // stderr, "F" for the file
	}{
		{"client", head + "client = \"192.0.2.0/40\"\naction = \"reject\"\n",
			`F: filters.access.rules[0].client: want an address, a CIDR or /regex/, got "192.0.2.0/40"`},
		{"regex", head + "sender = \"/[a/\"\naction = \"reject\"\n",
			"F: filters.access.rules[0].sender: bad regex /[a/: error parsing regexp: missing closing ]: `[a`"},
		{"helo space", head + "helo = \"two words\"\naction = \"reject\"\n",
			`F: filters.access.rules[0].helo: pattern "two words" contains a space or control character`},
		{"helo address", head + "helo = \"user@example.org\"\naction = \"reject\"\n",
			`F: filters.access.rules[0].helo: want a name or /regex/, got "user@example.org"`},
		{"null recipient", head + "recipient = \"<>\"\naction = \"reject\"\n",
			`F: filters.access.rules[0].recipient: <> (the null sender) is only for sender rules`},
		{"client host bits", head + "client = \"192.0.2.1/24\"\naction = \"reject\"\n",
			`F: filters.access.rules[0].client: network 192.0.2.1/24 has host bits set (did you mean 192.0.2.0/24?)`},
		{"reply second line", head + "client = \"192.0.2.1\"\naction = \"reject\"\nreply = \"550 5.7.1 no\\n450 later\"\n",
			`F: filters.access.rules[0].reply: reply "550 5.7.1 no\n450 later": want a 5xx code`},
		{"reply CR", head + "client = \"192.0.2.1\"\naction = \"reject\"\nreply = \"550 no\\r\\n550 no\"\n",
			`F: filters.access.rules[0].reply: reply "550 no\r\n550 no" contains CR or NUL (separate lines with "\n")`},
		{"reply on discard", head + "client = \"192.0.2.1\"\naction = \"discard\"\nreply = \"550 no\"\n",
			`F: filters.access.rules[0].reply: only for actions "reject" and "tempfail" (action is "discard")`},
		{"reply class", head + "client = \"192.0.2.1\"\naction = \"tempfail\"\nreply = \"550 5.7.1 no\"\n",
			`F: filters.access.rules[0].reply: reply "550 5.7.1 no": want a 4xx code`},
		{"reply enhanced", head + "client = \"192.0.2.1\"\naction = \"reject\"\nreply = \"554 4.7.1 no\"\n",
			`F: filters.access.rules[0].reply: reply "554 4.7.1 no": enhanced code 4.7.1 does not match class 5`},
		{"reply code", head + "client = \"192.0.2.1\"\naction = \"reject\"\nreply = \"5x0 no\"\n",
			`F: filters.access.rules[0].reply: reply "5x0 no": want a 5xx code`},
		{"reason", head + "client = \"192.0.2.1\"\naction = \"reject\"\nreason = \"why\"\n",
			`F: filters.access.rules[0].reason: only for action "quarantine" (action is "reject")`},

		// Every problem of every rule, in order, the index counting every
		// rule of the file.
		{"several", head + "client = \"192.0.2.1\"\naction = \"accept\"\n" +
			head + "sender = \"/[a/\"\naction = \"reject\"\nreply = \"450 later\"\n" +
			head + "helo = \"ok.example\"\naction = \"quarantine\"\nreason = \"  \"\n",
			"F: filters.access.rules[1].sender: bad regex /[a/: error parsing regexp: missing closing ]: `[a`\n" +
				`F: filters.access.rules[1].reply: reply "450 later": want a 5xx code` + "\n" +
				`F: filters.access.rules[2].reason: blank (leave it out for the default reason)`},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := strings.ReplaceAll(tt.name, " ", "-") + ".toml"
			writeFile(t, dir, name, tt.body)
			want := strings.ReplaceAll(tt.want, "F: ", name+": ") + "\n"
			check(t, sluice(t, dir, "check-config", "--config", name), result{1, "", want})
		})
	}
}

// TestMilterBadRule: `sluice milter` refuses to start on a rule the access
// filter refuses, and says so as check-config does.
func TestMilterBadRule(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "bad.toml", "[milter_server]\nlisten = \"unix:m.sock\"\n"+
		"[[filters.access.rules]]\nclient = \"192.0.2.1\"\naction = \"reject\"\nreply = \"554 4.7.1 no\"\n")
	want := "bad.toml: filters.access.rules[0].reply: reply \"554 4.7.1 no\": enhanced code 4.7.1 does not match class 5\n"
	check(t, sluice(t, dir, "milter", "--config", "bad.toml"), result{1, "", want})
	check(t, sluice(t, dir, "check-config", "--config", "bad.toml"), result{1, "", want})
}

// TestCheckConfigMilterReuse: check-config accepts the reuse keys of a
// [[milters]] entry and names the file and key of bad values.
func TestCheckConfigMilterReuse(t *testing.T) {
	dir := t.TempDir()
	const head = "[[milters]]\nname = \"dkim\"\naddress = \"inet:8891@127.0.0.1\"\n"
	writeFile(t, dir, "ok.toml", head+"max_idle_conns = 8\nidle_timeout = \"1m\"\n")
	check(t, sluice(t, dir, "check-config", "--config", "ok.toml"), result{0, "ok: ok.toml\n", ""})
	writeFile(t, dir, "bad.toml", head+"max_idle_conns = -2\nidle_timeout = \"0s\"\n")
	want := "bad.toml: milters[0].max_idle_conns: must be >= 0, got -2\n" +
		"bad.toml: milters[0].idle_timeout: must be > 0\n"
	check(t, sluice(t, dir, "check-config", "--config", "bad.toml"), result{1, "", want})
}
