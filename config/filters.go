package config

import (
	"fmt"
	"strings"
)

// defaultFilters is the built-in filter set used when the file has no
// [filters] table: `sluice milter` without a file visibly does something.
func defaultFilters() Filters {
	return Filters{Headers: &HeadersFilter{
		Add: []HeaderField{{Name: "X-Filtered-By", Value: "sluice"}},
	}}
}

// readFilters reads [filters.*] from the file, or returns the defaults.
func (l *loader) readFilters() Filters {
	t, present := l.raw["filters"]
	if !present {
		return defaultFilters()
	}
	tables, ok := t.(map[string]any)
	if !ok {
		return Filters{} // checkKeys reported it
	}
	var f Filters
	if m, ok := tables["headers"].(map[string]any); ok {
		f.Headers = readHeaders(l.fileReader("filters.headers", m, nil))
	}
	if m, ok := tables["access"].(map[string]any); ok {
		f.Access = l.readAccess(m)
	}
	if m, ok := tables["dkim"].(map[string]any); ok {
		f.DKIM = l.readDKIM(m)
	}
	if m, ok := tables["spf"].(map[string]any); ok {
		f.SPF = l.readSPF(m)
	}
	if m, ok := tables["dmarc"].(map[string]any); ok {
		f.DMARC = l.readDMARC(m)
	}
	if m, ok := tables["dnsbl"].(map[string]any); ok {
		f.DNSBL = readDNSBL(l.fileReader("filters.dnsbl", m, dnsblDefaults()))
	}
	if m, ok := tables["greylist"].(map[string]any); ok {
		f.Greylist = l.readGreylist(m)
	}
	if m, ok := tables["ratelimit"].(map[string]any); ok {
		f.RateLimit = l.readRateLimit(m)
	}
	return f
}

func readHeaders(r *reader) *HeadersFilter {
	h := &HeadersFilter{}
	for i, s := range r.strs("add") {
		name, value, ok := strings.Cut(s, ":")
		k := fmt.Sprintf("add[%d]", i)
		switch {
		case !ok:
			r.fail(k, "want \"Name: value\", got %q", s)
		case !isFieldName(name):
			r.fail(k, "bad header name %q", name)
		case strings.ContainsAny(value, "\r\n\x00"):
			r.fail(k, "header value must not contain CR, LF or NUL")
		default:
			h.Add = append(h.Add, HeaderField{Name: name, Value: strings.TrimSpace(value)})
		}
	}
	for i, name := range r.strs("remove") {
		if !isFieldName(name) {
			r.fail(fmt.Sprintf("remove[%d]", i), "bad header name %q", name)
			continue
		}
		h.Remove = append(h.Remove, name)
	}
	return h
}

// isFieldName reports whether s is an RFC 5322 §3.6.8 field name: one or
// more printable ASCII characters other than colon.
func isFieldName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < 33 || c > 126 || c == ':' {
			return false
		}
	}
	return true
}

func (l *loader) readAccess(m map[string]any) *AccessFilter {
	a := &AccessFilter{}
	rules, _ := m["rules"].([]any)
	for i, e := range rules {
		rm, ok := e.(map[string]any)
		if !ok {
			continue // checkKeys reported it
		}
		a.Rules = append(a.Rules, readRule(l.fileReader(fmt.Sprintf("filters.access.rules[%d]", i), rm, nil)))
	}
	return a
}

// readRule reads one [[filters.access.rules]] entry and checks its shape:
// string values, exactly one match key, a known action. The patterns,
// the reply and the reason are the access filter's to judge (package
// filter/access); cmd/sluice builds the filter and names the file and
// key of what it refuses.
func readRule(r *reader) AccessRule {
	rule := AccessRule{
		Client:    r.str("client"),
		HELO:      r.str("helo"),
		Sender:    r.str("sender"),
		Recipient: r.str("recipient"),
		Action:    r.enum("action", "action", "reject", "tempfail", "discard", "quarantine", "accept"),
		Reply:     r.str("reply"),
		Reason:    r.str("reason"),
	}
	set := 0
	for _, p := range []string{rule.Client, rule.HELO, rule.Sender, rule.Recipient} {
		if p != "" {
			set++
		}
	}
	if set != 1 {
		r.fail("", "want exactly one of client, helo, sender, recipient; got %d", set)
	}
	return rule
}
