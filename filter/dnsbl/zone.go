package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

const (
	// maxZones bounds the zones of one filter: each is a lookup per
	// connection.
	maxZones = 32
	// maxZoneName is the longest zone name: an IPv6 query puts 64
	// octets of nibbles before it and a name is at most 253 octets
	// (RFC 1035 §2.3.4, RFC 5782 §2.4).
	maxZoneName = 253 - 64
	// maxWeight bounds a weight's magnitude, so no sum overflows.
	maxWeight = 1_000_000
	// maxPatterns bounds the patterns of one zone's return-code filter.
	maxPatterns = 64
)

// zone is one parsed entry of Options.Zones.
type zone struct {
	name     string    // lower case, no final dot
	patterns []pattern // nil: any address in 127.0.0.0/8
	weight   int
}

// pattern matches an IPv4 answer octet by octet.
type pattern [4]octetSet

// octetSet is the set of values one octet may take.
type octetSet [4]uint64 // a 256-bit set

func (s *octetSet) add(lo, hi int) {
	for v := lo; v <= hi; v++ {
		s[v/64] |= 1 << (v % 64)
	}
}

func (s *octetSet) has(v byte) bool { return s[v/64]&(1<<(v%64)) != 0 }

func (p *pattern) match(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	b := a.As4()
	for i := range p {
		if !p[i].has(b[i]) {
			return false
		}
	}
	return true
}

// listedBy reports whether the answer a lists the client in z: it
// matches one of z's patterns, or, without patterns, lies in
// 127.0.0.0/8 (RFC 5782 §2.1).
func (z *zone) listedBy(a netip.Addr) bool {
	if z.patterns == nil {
		return loopback4.Contains(a)
	}
	for i := range z.patterns {
		if z.patterns[i].match(a) {
			return true
		}
	}
	return false
}

var loopback4 = netip.MustParsePrefix("127.0.0.0/8")

// parseZone parses "name[=codes][*weight]": codes is a comma-separated
// list of patterns such as 127.0.0.2 or 127.0.0.[2..11] or
// 127.0.[0;1].[2;4..6]; weight is a non-zero integer, 1 by default.
func parseZone(s string) (zone, error) {
	if strings.TrimSpace(s) != s {
		return zone{}, errors.New("white space around the zone")
	}
	z := zone{weight: 1}
	rest := s
	if i := strings.LastIndexByte(rest, '*'); i >= 0 {
		w, err := parseWeight(rest[i+1:])
		if err != nil {
			return zone{}, err
		}
		z.weight, rest = w, rest[:i]
	}
	name, codes, hasCodes := strings.Cut(rest, "=")
	var err error
	if z.name, err = parseName(name); err != nil {
		return zone{}, err
	}
	if hasCodes {
		if z.patterns, err = parsePatterns(codes); err != nil {
			return zone{}, fmt.Errorf("return codes %q: %w", codes, err)
		}
	}
	return z, nil
}

func parseWeight(s string) (int, error) {
	w, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("weight %q is not an integer", s)
	}
	if w == 0 || w > maxWeight || w < -maxWeight {
		return 0, fmt.Errorf("weight %d: want a non-zero integer from %d to %d", w, -maxWeight, maxWeight)
	}
	return w, nil
}

// parseName checks a zone name: dot-separated labels of letters, digits,
// hyphens and underscores, at least two, none empty or over 63 octets.
// A final dot is dropped; the name is lower-cased.
func parseName(s string) (string, error) {
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if name == "" {
		return "", errors.New("empty zone name")
	}
	if len(name) > maxZoneName {
		return "", fmt.Errorf("zone name %q is over %d octets", s, maxZoneName)
	}
	labels := strings.Split(name, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("zone name %q has one label, want a domain such as zen.spamhaus.org", s)
	}
	for _, l := range labels {
		if !validLabel(l) {
			return "", fmt.Errorf("zone name %q: bad label %q (want letters, digits, '-' or '_', 1 to 63 of them)", s, l)
		}
	}
	return name, nil
}

func validLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

func parsePatterns(s string) ([]pattern, error) {
	items := strings.Split(s, ",")
	if len(items) > maxPatterns {
		return nil, fmt.Errorf("%d patterns, over %d", len(items), maxPatterns)
	}
	out := make([]pattern, 0, len(items))
	for _, it := range items {
		p, err := parsePattern(it)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePattern parses four dot-separated octets, each a number, or
// between brackets numbers and ranges lo..hi separated by ';'.
func parsePattern(s string) (pattern, error) {
	var p pattern
	octets, err := splitOctets(s)
	if err != nil {
		return p, err
	}
	for i, o := range octets {
		if err := parseOctet(o, &p[i]); err != nil {
			return p, fmt.Errorf("pattern %q: %w", s, err)
		}
	}
	return p, nil
}

// splitOctets splits at the dots outside brackets.
func splitOctets(s string) ([]string, error) {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '[':
			depth++
		case ']':
			depth--
		case '.':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
		if depth < 0 || depth > 1 {
			return nil, fmt.Errorf("pattern %q: unbalanced brackets", s)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("pattern %q: unbalanced brackets", s)
	}
	out = append(out, s[start:])
	if len(out) != 4 {
		return nil, fmt.Errorf("pattern %q: want four octets such as 127.0.0.2 or 127.0.0.[2..11]", s)
	}
	return out, nil
}

func parseOctet(s string, set *octetSet) error {
	inner, bracketed := strings.CutPrefix(s, "[")
	if !bracketed {
		v, err := octetValue(s)
		if err != nil {
			return err
		}
		set.add(v, v)
		return nil
	}
	inner, ok := strings.CutSuffix(inner, "]")
	if !ok {
		return fmt.Errorf("octet %q: want [list]", s)
	}
	for _, item := range strings.Split(inner, ";") {
		loS, hiS, isRange := strings.Cut(item, "..")
		lo, err := octetValue(loS)
		if err != nil {
			return err
		}
		hi := lo
		if isRange {
			if hi, err = octetValue(hiS); err != nil {
				return err
			}
			if hi < lo {
				return fmt.Errorf("range %q: %d is below %d", item, hi, lo)
			}
		}
		set.add(lo, hi)
	}
	return nil
}

func octetValue(s string) (int, error) {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("octet %q: want a number from 0 to 255", s)
	}
	v, _ := strconv.Atoi(s)
	if v > 255 {
		return 0, fmt.Errorf("octet %q: want a number from 0 to 255", s)
	}
	return v, nil
}
