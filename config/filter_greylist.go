package config

import (
	"net/netip"
	"path/filepath"
	"time"
)

// GreylistFilter is [filters.greylist]: greylisting by (client network,
// sender, recipient), as package filter/greylist does it.
type GreylistFilter struct {
	Delay               time.Duration  // a retry passes this long after the first attempt
	RetryWindow         time.Duration  // a later retry is a first attempt again
	Expire              time.Duration  // passed triplets and whitelisted networks are kept this long after last seen
	AutoWhitelistCount  int            // messages passed that whitelist a client network; 0: never
	IPv4Prefix          int            // bits of an IPv4 client network
	IPv6Prefix          int            // bits of an IPv6 client network
	WhitelistNetworks   []netip.Prefix // clients never greylisted
	WhitelistRecipients []string       // "user@example.com", "postmaster@", "example.com", ".example.com"
	WhitelistSenders    []string       // the same forms, and "<>"
	ReplyAt             string         // "rcpt" or "data" (at the end of the message)
	StateFile           string         // resolved: <data_dir>/greylist.db when the key is empty
	MaxEntries          int            // triplets (and networks) kept in memory
	SaveInterval        time.Duration  // how often the state file is written
}

// greylistDefaults are the defaults of [filters.greylist]'s keys.
func greylistDefaults() map[string]any {
	return map[string]any{
		"delay":                "5m",
		"retry_window":         "48h",
		"expire":               "35d",
		"auto_whitelist_count": 5,
		"ipv4_prefix":          24,
		"ipv6_prefix":          64,
		"whitelist_networks":   []string{"127.0.0.0/8", "::1/128"},
		"whitelist_recipients": []string{},
		"whitelist_senders":    []string{},
		"reply_at":             "rcpt",
		"state_file":           "",
		"max_entries":          100000,
		"save_interval":        "1m",
	}
}

// greylistKeys are the keys [filters.greylist] may hold.
func greylistKeys() []string {
	keys := make([]string, 0, len(greylistDefaults()))
	for k := range greylistDefaults() {
		keys = append(keys, k)
	}
	return keys
}

// readGreylist reads [filters.greylist]. The address patterns are the
// filter's to judge (cmd/sluice names the key of what it refuses).
func (l *loader) readGreylist(m map[string]any) *GreylistFilter {
	r := l.fileReader("filters.greylist", m, greylistDefaults())
	g := &GreylistFilter{
		Delay:               r.positiveDuration("delay"),
		RetryWindow:         r.positiveDuration("retry_window"),
		Expire:              r.positiveDuration("expire"),
		AutoWhitelistCount:  r.nonNegative("auto_whitelist_count"),
		IPv4Prefix:          r.integer("ipv4_prefix"),
		IPv6Prefix:          r.integer("ipv6_prefix"),
		WhitelistNetworks:   r.prefixes("whitelist_networks"),
		WhitelistRecipients: r.strs("whitelist_recipients"),
		WhitelistSenders:    r.strs("whitelist_senders"),
		ReplyAt:             r.enum("reply_at", "reply_at", "rcpt", "data"),
		StateFile:           r.str("state_file"),
		MaxEntries:          r.positive("max_entries"),
		SaveInterval:        r.positiveDuration("save_interval"),
	}
	if g.RetryWindow <= g.Delay && r.ok("delay") && r.ok("retry_window") {
		r.fail("retry_window", "must be longer than delay (%v), got %v", g.Delay, g.RetryWindow)
	}
	for _, p := range []struct {
		key string
		n   int
		max int
	}{{"ipv4_prefix", g.IPv4Prefix, 32}, {"ipv6_prefix", g.IPv6Prefix, 128}} {
		if (p.n < 1 || p.n > p.max) && r.ok(p.key) {
			r.fail(p.key, "must be 1 to %d, got %d", p.max, p.n)
		}
	}
	if g.StateFile == "" && r.ok("state_file") {
		dataDir, _ := l.v.Get("data_dir").(string)
		g.StateFile = filepath.Join(dataDir, "greylist.db")
	}
	return g
}
