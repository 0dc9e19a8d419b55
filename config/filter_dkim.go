package config

import (
	"fmt"
	"net/netip"
	"time"
)

// DKIMFilter is [filters.dkim]: DKIM verification (an
// Authentication-Results field) and signing (RFC 6376).
type DKIMFilter struct {
	Verify       bool   // verify signatures; default true
	AuthservID   string // Authentication-Results authserv-id; empty: hostname
	RejectOnFail bool   // 550 5.7.20 when every signature fails; default false
	// DNSError is what a failed key lookup does when no signature
	// passes: accept (dkim=temperror) or tempfail (451 4.4.3).
	DNSError string
	// SignNetworks are the clients whose mail is signed; default
	// loopback. An empty list signs for no network.
	SignNetworks      []netip.Prefix
	SignAuthenticated bool     // sign the mail of authenticated clients; default true
	SignHeaders       []string // fields signed; empty: the filter's default list
	MaxMessageBytes   int64    // larger messages are neither verified nor signed; default 10MiB
	Timeout           time.Duration
	// Resolver is "address:port" of the DNS server to ask (port 53 when
	// left out); empty: the system's resolver.
	Resolver string
	Keys     []DKIMKey
}

// DKIMKey is one [[filters.dkim.keys]] entry.
type DKIMKey struct {
	Domain   string // d=, and the From domain signed for
	Selector string // s=
	KeyFile  string // PEM private key, RSA or Ed25519
}

// dkimDefaults are the defaults of [filters.dkim]'s scalar keys.
func dkimDefaults() map[string]any {
	return map[string]any{
		"verify":             true,
		"authserv_id":        "",
		"reject_on_fail":     false,
		"dns_error":          "accept",
		"sign_networks":      []string{"127.0.0.0/8", "::1/128"},
		"sign_authenticated": true,
		"sign_headers":       []string{},
		"max_message_bytes":  "10MiB",
		"timeout":            "10s",
		"resolver":           "",
	}
}

// dkimKeys lists the keys of [filters.dkim] but the keys array, for the
// schema.
func dkimKeys() []string { return sortedKeys(dkimDefaults()) }

// dkimKeyKeys are the keys of one [[filters.dkim.keys]] entry.
var dkimKeyKeys = []string{"domain", "selector", "key_file"}

// readDKIM reads [filters.dkim]. The domains, selectors, header names and
// key files are the filter's to judge (cmd/sluice names the file and key
// of what it refuses).
func (l *loader) readDKIM(m map[string]any) *DKIMFilter {
	r := l.fileReader("filters.dkim", m, dkimDefaults())
	d := &DKIMFilter{
		Verify:            r.boolean("verify"),
		AuthservID:        r.str("authserv_id"),
		RejectOnFail:      r.boolean("reject_on_fail"),
		DNSError:          r.enum("dns_error", "action", "accept", "tempfail"),
		SignNetworks:      r.prefixes("sign_networks"),
		SignAuthenticated: r.boolean("sign_authenticated"),
		SignHeaders:       r.strs("sign_headers"),
		MaxMessageBytes:   r.size("max_message_bytes"),
		Timeout:           r.positiveDuration("timeout"),
		Resolver:          r.dnsServer("resolver"),
	}
	if d.MaxMessageBytes == 0 && r.ok("max_message_bytes") {
		r.fail("max_message_bytes", "must be > 0")
	}
	list, _ := m["keys"].([]any)
	for i, e := range list {
		km, ok := e.(map[string]any)
		if !ok {
			continue // checkKeys reported it
		}
		kr := l.fileReader(fmt.Sprintf("filters.dkim.keys[%d]", i), km, nil)
		k := DKIMKey{Domain: kr.str("domain"), Selector: kr.str("selector"), KeyFile: kr.str("key_file")}
		for _, f := range []struct{ key, val string }{{"domain", k.Domain}, {"selector", k.Selector}, {"key_file", k.KeyFile}} {
			if f.val == "" && kr.ok(f.key) {
				kr.fail(f.key, "missing")
			}
		}
		d.Keys = append(d.Keys, k)
	}
	return d
}
