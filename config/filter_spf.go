package config

import (
	"net/netip"
	"time"
)

// SPFFilter is [filters.spf]: the SPF check (RFC 7208) of the envelope
// sender at MAIL, or of the HELO name for the null sender.
type SPFFilter struct {
	FailAction      string // reject (550 5.7.23) or tag; default reject
	SoftFailAction  string // tag or tempfail (451 4.7.23); default tag
	TempErrorAction string // tempfail (451 4.7.24) or accept; default tempfail
	PermErrorAction string // accept or reject (550 5.7.24); default accept
	ReceivedSPF     bool   // add a Received-SPF header field; default true
	Timeout         time.Duration
	// SkipNetworks are never checked; default loopback. An empty list
	// checks every client. Authenticated clients are never checked.
	SkipNetworks []netip.Prefix
	// Resolver is "address:port" of the DNS server to ask (port 53 when
	// left out); empty: the system's resolver (/etc/resolv.conf).
	Resolver string
}

// spfDefaults are the defaults of [filters.spf]'s keys.
func spfDefaults() map[string]any {
	return map[string]any{
		"fail_action":      "reject",
		"softfail_action":  "tag",
		"temperror_action": "tempfail",
		"permerror_action": "accept",
		"received_spf":     true,
		"timeout":          "20s",
		"skip_networks":    []string{"127.0.0.0/8", "::1/128"},
		"resolver":         "",
	}
}

// spfKeys lists the keys of [filters.spf], for the schema.
func spfKeys() []string {
	return sortedKeys(spfDefaults())
}

// readSPF reads [filters.spf] and checks every value.
func (l *loader) readSPF(m map[string]any) *SPFFilter {
	r := l.fileReader("filters.spf", m, spfDefaults())
	return &SPFFilter{
		FailAction:      r.enum("fail_action", "action", "reject", "tag"),
		SoftFailAction:  r.enum("softfail_action", "action", "tag", "tempfail"),
		TempErrorAction: r.enum("temperror_action", "action", "tempfail", "accept"),
		PermErrorAction: r.enum("permerror_action", "action", "accept", "reject"),
		ReceivedSPF:     r.boolean("received_spf"),
		Timeout:         r.positiveDuration("timeout"),
		SkipNetworks:    r.prefixes("skip_networks"),
		Resolver:        r.dnsServer("resolver"),
	}
}
