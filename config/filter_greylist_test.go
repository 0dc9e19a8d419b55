package config

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGreylistDefaults(t *testing.T) {
	path := writeConfig(t, "data_dir = \"/srv/sluice\"\n[filters.greylist]\n")
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := &GreylistFilter{
		Delay: 5 * time.Minute, RetryWindow: 48 * time.Hour, Expire: 35 * 24 * time.Hour,
		AutoWhitelistCount: 5, IPv4Prefix: 24, IPv6Prefix: 64,
		WhitelistNetworks:   []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
		WhitelistRecipients: []string{}, WhitelistSenders: []string{},
		ReplyAt: "rcpt", StateFile: filepath.Join("/srv/sluice", "greylist.db"),
		MaxEntries: 100000, SaveInterval: time.Minute,
	}
	if !reflect.DeepEqual(cfg.Filters.Greylist, want) {
		t.Errorf("defaults\n%+v\nwant\n%+v", cfg.Filters.Greylist, want)
	}
	if cfg.Filters.Headers != nil {
		t.Error("a [filters] table in the file must replace the default set")
	}
}

func TestGreylistValues(t *testing.T) {
	path := writeConfig(t, `[filters.greylist]
delay = "1s"
retry_window = "1h"
expire = "7d"
auto_whitelist_count = 0
ipv4_prefix = 32
ipv6_prefix = 128
whitelist_networks = []
whitelist_recipients = ["postmaster@"]
whitelist_senders = ["<>", ".example.org"]
reply_at = "data"
state_file = "/var/lib/grey.json"
max_entries = 10
save_interval = "10s"
`)
	cfg, err := Load(LoadOptions{File: path})
	if err != nil {
		t.Fatal(err)
	}
	want := &GreylistFilter{
		Delay: time.Second, RetryWindow: time.Hour, Expire: 7 * 24 * time.Hour,
		IPv4Prefix: 32, IPv6Prefix: 128, WhitelistNetworks: []netip.Prefix{},
		WhitelistRecipients: []string{"postmaster@"}, WhitelistSenders: []string{"<>", ".example.org"},
		ReplyAt: "data", StateFile: "/var/lib/grey.json", MaxEntries: 10, SaveInterval: 10 * time.Second,
	}
	if !reflect.DeepEqual(cfg.Filters.Greylist, want) {
		t.Errorf("values\n%+v\nwant\n%+v", cfg.Filters.Greylist, want)
	}
}

func TestGreylistErrors(t *testing.T) {
	for _, tt := range []struct{ body, want string }{
		{"delay = \"0\"", `F: filters.greylist.delay: must be > 0`},
		{"delay = \"2h\"\nretry_window = \"1h\"", `F: filters.greylist.retry_window: must be longer than delay (2h0m0s), got 1h0m0s`},
		{"expire = 5", `F: filters.greylist.expire: want a duration such as "30s", "5m" or "5d", got integer 5`},
		{"auto_whitelist_count = -1", `F: filters.greylist.auto_whitelist_count: must be >= 0, got -1`},
		{"ipv4_prefix = 33\nipv6_prefix = 0", "F: filters.greylist.ipv4_prefix: must be 1 to 32, got 33\nF: filters.greylist.ipv6_prefix: must be 1 to 128, got 0"},
		{"whitelist_networks = [\"10.1.2.3/8\"]", `F: filters.greylist.whitelist_networks[0]: network 10.1.2.3/8 has host bits set (did you mean 10.0.0.0/8?)`},
		{"whitelist_senders = [1]", `F: filters.greylist.whitelist_senders[0]: want a string, got integer 1`},
		{"reply_at = \"eom\"", `F: filters.greylist.reply_at: unknown reply_at "eom" (want rcpt, data)`},
		{"state_file = true", `F: filters.greylist.state_file: want a string, got boolean true`},
		{"max_entries = 0", `F: filters.greylist.max_entries: must be > 0, got 0`},
		{"save_interval = \"x\"", `F: filters.greylist.save_interval: bad duration "x" (want e.g. "30s", "5m", "1h30m", "5d")`},
		{"dely = \"1m\"", `F: filters.greylist.dely: unknown key (did you mean "delay"?)`},
	} {
		path := writeConfig(t, "[filters.greylist]\n"+tt.body+"\n")
		_, err := Load(LoadOptions{File: path})
		want := strings.ReplaceAll(tt.want, "F: ", path+": ")
		if err == nil || err.Error() != want {
			t.Errorf("%q: Load() error =\n%v\nwant\n%s", tt.body, err, want)
		}
	}
}
