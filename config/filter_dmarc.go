package config

import (
	"net/netip"
	"time"
)

// DMARCFilter is [filters.dmarc]: DMARC (RFC 7489) at end of message,
// from the results [filters.dkim] and [filters.spf] recorded.
type DMARCFilter struct {
	// AuthservID is the authserv-id of the Authentication-Results fields
	// read and written; empty: [filters.dkim]'s, else hostname.
	AuthservID string
	Enforce    bool   // refuse p=reject (550 5.7.1), quarantine p=quarantine; default false: tag only
	DNSError   string // a temperror: accept or tempfail (451 4.4.3); default accept
	// SkipNetworks are never evaluated; default loopback. An empty list
	// evaluates every client. Authenticated clients are never evaluated.
	SkipNetworks []netip.Prefix
	Timeout      time.Duration // the record lookups of one message
	// Resolver is "address:port" of the DNS server to ask (port 53 when
	// left out); empty: the system's resolver.
	Resolver string
}

// dmarcDefaults are the defaults of [filters.dmarc]'s keys.
func dmarcDefaults() map[string]any {
	return map[string]any{
		"authserv_id":   "",
		"enforce":       false,
		"on_dns_error":  "accept",
		"skip_networks": []string{"127.0.0.0/8", "::1/128"},
		"timeout":       "10s",
		"resolver":      "",
	}
}

// dmarcKeys lists the keys of [filters.dmarc], for the schema.
func dmarcKeys() []string { return sortedKeys(dmarcDefaults()) }

// readDMARC reads [filters.dmarc] and checks every value but authserv_id,
// which the filter judges.
func (l *loader) readDMARC(m map[string]any) *DMARCFilter {
	r := l.fileReader("filters.dmarc", m, dmarcDefaults())
	return &DMARCFilter{
		AuthservID:   r.str("authserv_id"),
		Enforce:      r.boolean("enforce"),
		DNSError:     r.enum("on_dns_error", "action", "accept", "tempfail"),
		SkipNetworks: r.prefixes("skip_networks"),
		Timeout:      r.positiveDuration("timeout"),
		Resolver:     r.dnsServer("resolver"),
	}
}
