package config

import (
	"net/netip"
	"time"
)

// RateLimitFilter is [filters.ratelimit]: per-client rate limits, as
// Postfix's anvil enforces them. A count of 0 is no limit.
type RateLimitFilter struct {
	Connections int           // connections per client per Window, checked at connect
	Messages    int           // MAIL commands per client per Window
	Recipients  int           // RCPT commands per client per Window
	Window      time.Duration // default 1m
	IPv6Prefix  int           // bits of an IPv6 address naming one client, 1-128; default 64
	MaxClients  int           // clients tracked at once; default 100000
	// ExemptNetworks are never limited; default loopback. An empty list
	// exempts nobody.
	ExemptNetworks      []netip.Prefix
	ExemptAuthenticated bool // no message or recipient limit after AUTH
}

// rateLimitDefaults are the defaults of [filters.ratelimit]'s keys.
func rateLimitDefaults() map[string]any {
	return map[string]any{
		"connections":          0,
		"messages":             0,
		"recipients":           0,
		"window":               "1m",
		"ipv6_prefix":          64,
		"max_clients":          100000,
		"exempt_networks":      []string{"127.0.0.0/8", "::1/128"},
		"exempt_authenticated": false,
	}
}

// rateLimitKeys lists the keys of [filters.ratelimit], for the schema.
func rateLimitKeys() []string {
	return sortedKeys(rateLimitDefaults())
}

// readRateLimit reads [filters.ratelimit] and checks every value.
func (l *loader) readRateLimit(m map[string]any) *RateLimitFilter {
	r := l.fileReader("filters.ratelimit", m, rateLimitDefaults())
	f := &RateLimitFilter{
		Connections:         r.nonNegative("connections"),
		Messages:            r.nonNegative("messages"),
		Recipients:          r.nonNegative("recipients"),
		Window:              r.positiveDuration("window"),
		IPv6Prefix:          r.integer("ipv6_prefix"),
		MaxClients:          r.positive("max_clients"),
		ExemptNetworks:      r.prefixes("exempt_networks"),
		ExemptAuthenticated: r.boolean("exempt_authenticated"),
	}
	if (f.IPv6Prefix < 1 || f.IPv6Prefix > 128) && r.ok("ipv6_prefix") {
		r.fail("ipv6_prefix", "must be 1 to 128, got %d", f.IPv6Prefix)
	}
	return f
}
