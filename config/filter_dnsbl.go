package config

import (
	"net/netip"
	"time"
)

// DNSBLFilter is [filters.dnsbl]: DNS blocklists (RFC 5782) asked for the
// client's address when it connects.
type DNSBLFilter struct {
	// Zones are "name[=codes][*weight]" entries, e.g.
	// "zen.spamhaus.org=127.0.0.[2..11]"; the filter (package
	// filter/dnsbl) judges their syntax.
	Zones        []string
	Threshold    int           // sum of weights that decides; default 1
	Action       string        // reject (default), tempfail, tag
	Reply        string        // "[code [enhanced] ]text" with %a, %z, %r; empty: the default
	RejectAt     string        // connect (default) or rcpt
	Timeout      time.Duration // all lookups of one client; default 5s
	SkipNetworks []netip.Prefix
	OnDNSError   string // accept (default) or tempfail
	Resolver     string // "ip:port" of the DNS server to ask (port 53 when left out); empty: the system's
}

// dnsblDefaults are the defaults of [filters.dnsbl]'s keys.
func dnsblDefaults() map[string]any {
	return map[string]any{
		"threshold":     1,
		"action":        "reject",
		"reject_at":     "connect",
		"timeout":       "5s",
		"skip_networks": []string{"127.0.0.0/8", "::1/128"},
		"on_dns_error":  "accept",
	}
}

// dnsblKeys are the keys of [filters.dnsbl].
var dnsblKeys = []string{"zones", "threshold", "action", "reply", "reject_at", "timeout",
	"skip_networks", "on_dns_error", "resolver"}

// readDNSBL reads [filters.dnsbl] and checks its shape; the zone syntax
// and the reply are the filter's to judge.
func readDNSBL(r *reader) *DNSBLFilter {
	d := &DNSBLFilter{
		Zones:        r.strs("zones"),
		Threshold:    r.positive("threshold"),
		Action:       r.enum("action", "action", "reject", "tempfail", "tag"),
		Reply:        r.str("reply"),
		RejectAt:     r.enum("reject_at", "stage", "connect", "rcpt"),
		Timeout:      r.positiveDuration("timeout"),
		SkipNetworks: r.prefixes("skip_networks"),
		OnDNSError:   r.enum("on_dns_error", "choice", "accept", "tempfail"),
		Resolver:     r.dnsServer("resolver"),
	}
	if len(d.Zones) == 0 && r.ok("zones") {
		r.fail("zones", "want at least one zone, e.g. [\"zen.spamhaus.org\"]")
	}
	if d.Timeout > 2*time.Minute {
		r.fail("timeout", "must be at most 2m, got %v", d.Timeout)
	}
	return d
}
