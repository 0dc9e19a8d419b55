package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// FieldError is one configuration error: where the bad value came from,
// its key and what is wrong with it. Error() reads
// "sluice.toml: smtp.max_recipients: must be > 0, got -1".
type FieldError struct {
	// Source is the file name, "$SLUICE_…" for an environment variable,
	// "flag --…" for a flag, or "defaults".
	Source string
	// Key is the dotted key, with an index for array entries:
	// "filters.access.rules[2].action".
	Key string
	Msg string
}

func (e *FieldError) Error() string { return e.Source + ": " + e.Key + ": " + e.Msg }

// reader reads typed values from one layer of keys (the merged top level, or
// one array entry) and collects every error instead of stopping at the first.
type reader struct {
	prefix string                  // shown before keys, e.g. "milters[0]"
	get    func(key string) any    // resolved raw value, nil when unset
	source func(key string) string // where the value came from
	isText func(key string) bool   // value is text from the environment or a flag
	errs   *[]error
}

func (r *reader) key(k string) string { return join(r.prefix, k) }

func (r *reader) fail(k, format string, args ...any) {
	*r.errs = append(*r.errs, &FieldError{Source: r.source(k), Key: r.key(k), Msg: fmt.Sprintf(format, args...)})
}

func (r *reader) str(k string) string {
	switch v := r.get(k).(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		r.fail(k, "want a string, got %s", describe(v))
		return ""
	}
}

// strs reads a list: a TOML array of strings, or (from the environment or a
// flag) one comma-separated string.
func (r *reader) strs(k string) []string {
	switch v := r.get(k).(type) {
	case nil:
		return []string{}
	case string:
		if r.isText(k) {
			return splitList(v)
		}
		r.fail(k, "want an array of strings, got %s", describe(v))
		return []string{}
	case []string:
		return append([]string{}, v...)
	case []any:
		out := make([]string, 0, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				r.fail(fmt.Sprintf("%s[%d]", k, i), "want a string, got %s", describe(e))
				continue
			}
			out = append(out, s)
		}
		return out
	default:
		r.fail(k, "want an array of strings, got %s", describe(v))
		return []string{}
	}
}

func splitList(s string) []string {
	out := []string{}
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (r *reader) integer(k string) int {
	switch v := r.get(k).(type) {
	case int:
		return v
	case int64:
		if v > math.MaxInt32 || v < math.MinInt32 {
			r.fail(k, "out of range: %d", v)
			return 0
		}
		return int(v)
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			r.fail(k, "want an integer, got %q", v)
		}
		return n
	default:
		r.fail(k, "want an integer, got %s", describe(v))
		return 0
	}
}

// positive reads an integer that must be > 0.
func (r *reader) positive(k string) int {
	n := r.integer(k)
	if n <= 0 && r.ok(k) {
		r.fail(k, "must be > 0, got %d", n)
	}
	return n
}

// nonNegative reads an integer that must be >= 0.
func (r *reader) nonNegative(k string) int {
	n := r.integer(k)
	if n < 0 && r.ok(k) {
		r.fail(k, "must be >= 0, got %d", n)
	}
	return n
}

// ok reports whether no error was recorded for k yet.
func (r *reader) ok(k string) bool {
	want := r.key(k)
	for _, e := range *r.errs {
		if fe, isField := e.(*FieldError); isField && fe.Key == want {
			return false
		}
	}
	return true
}

func (r *reader) boolean(k string) bool {
	switch v := r.get(k).(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			r.fail(k, "want true or false, got %q", v)
		}
		return b
	default:
		r.fail(k, "want true or false, got %s", describe(v))
		return false
	}
}

func (r *reader) duration(k string) time.Duration {
	return r.durationOf(k, r.get(k))
}

func (r *reader) durationOf(k string, v any) time.Duration {
	switch x := v.(type) {
	case string:
		d, err := ParseDuration(x)
		if err != nil {
			r.fail(k, "%v", err)
		}
		return d
	case time.Duration:
		return x
	case int64:
		if x == 0 {
			return 0
		}
	}
	r.fail(k, "want a duration such as \"30s\", \"5m\" or \"5d\", got %s", describe(v))
	return 0
}

// positiveDuration reads a duration that must be > 0.
func (r *reader) positiveDuration(k string) time.Duration {
	d := r.duration(k)
	if d <= 0 && r.ok(k) {
		r.fail(k, "must be > 0")
	}
	return d
}

func (r *reader) durations(k string) []time.Duration {
	items := r.strs(k)
	out := make([]time.Duration, 0, len(items))
	for i, s := range items {
		ik := fmt.Sprintf("%s[%d]", k, i)
		d := r.durationOf(ik, s)
		if d <= 0 && r.ok(ik) {
			r.fail(ik, "must be > 0")
		}
		out = append(out, d)
	}
	return out
}

func (r *reader) size(k string) int64 {
	switch v := r.get(k).(type) {
	case int64:
		if v < 0 {
			r.fail(k, "must be >= 0, got %d", v)
		}
		return v
	case int:
		return r.sizeOf(k, strconv.Itoa(v))
	case string:
		return r.sizeOf(k, v)
	default:
		r.fail(k, "want a size such as \"50MiB\" or a number of bytes, got %s", describe(v))
		return 0
	}
}

func (r *reader) sizeOf(k, s string) int64 {
	n, err := ParseSize(s)
	if err != nil {
		r.fail(k, "%v", err)
	}
	return n
}

// enum reads a string that must be one of allowed.
func (r *reader) enum(k, what string, allowed ...string) string {
	s := r.str(k)
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	if r.ok(k) {
		r.fail(k, "unknown %s %q (want %s)", what, s, strings.Join(allowed, ", "))
	}
	return s
}

// prefixes reads a list of networks: CIDR prefixes or single addresses.
func (r *reader) prefixes(k string) []netip.Prefix {
	items := r.strs(k)
	out := make([]netip.Prefix, 0, len(items))
	for i, s := range items {
		p, err := parsePrefix(s)
		if err != nil {
			r.fail(fmt.Sprintf("%s[%d]", k, i), "%v", err)
			continue
		}
		out = append(out, p)
	}
	return out
}

// parsePrefix parses "192.0.2.0/24", "2001:db8::/32" or a single address.
// A network with host bits set ("10.1.2.3/8") is refused as a likely typo.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad network %q (want an address or CIDR such as 192.0.2.0/24)", s)
		}
		if m := p.Masked(); m != p {
			return netip.Prefix{}, fmt.Errorf("network %s has host bits set (did you mean %s?)", s, m)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad network %q (want an address or CIDR such as 192.0.2.0/24)", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (r *reader) socket(k string) Socket {
	s := r.str(k)
	if !r.ok(k) {
		return Socket{}
	}
	sock, err := ParseSocket(s)
	if err != nil {
		r.fail(k, "%v", err)
	}
	return sock
}

// dnsServer reads the address of a DNS server to ask: an IP address with
// an optional port (53 when left out), returned as "ip:port"; "" stays "".
func (r *reader) dnsServer(k string) string {
	s := r.str(k)
	if s == "" || !r.ok(k) {
		return s
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return netip.AddrPortFrom(a, 53).String()
	}
	host, port, err := net.SplitHostPort(s)
	a, aerr := netip.ParseAddr(host)
	p, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || aerr != nil || a.Zone() != "" || perr != nil || p == 0 {
		r.fail(k, "want a DNS server's IP address and port such as \"127.0.0.1:53\", got %q", s)
		return ""
	}
	return netip.AddrPortFrom(a, uint16(p)).String()
}
