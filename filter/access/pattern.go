package access

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/sluice-mta/sluice/envelope"
	"github.com/sluice-mta/sluice/filter"
)

// maxPattern bounds the length of a pattern as configured.
const maxPattern = 1024

// key names the Rule field a pattern came from, and so what it matches.
type key uint8

const (
	keyClient key = iota
	keyHelo
	keySender
	keyRecipient
	numKeys
)

var keyNames = [numKeys]string{"client", "helo", "sender", "recipient"}

func (k key) String() string { return keyNames[k] }

// stage is the SMTP stage where rules of this key are evaluated.
func (k key) stage() filter.Stage {
	return [numKeys]filter.Stage{filter.StageConnect, filter.StageHelo, filter.StageMail, filter.StageRcpt}[k]
}

type kind uint8

const (
	kindRegex     kind = iota + 1 // /re/: case-insensitive RE2 search
	kindAddress                   // user@example.com: the whole address
	kindDomain                    // example.com or @example.com: the domain (HELO: the name)
	kindSubdomain                 // .example.com: a proper subdomain
	kindNull                      // <>: the null sender
	kindIP                        // one client address
	kindPrefix                    // a client network
)

// pattern is one compiled match key.
type pattern struct {
	key    key
	kind   kind
	text   string         // as configured
	value  string         // lower case: address, domain, or ".suffix"
	re     *regexp.Regexp // kindRegex
	prefix netip.Prefix   // kindIP (a /32 or /128) and kindPrefix
}

// parsePattern compiles s as a pattern for key k.
func parsePattern(k key, s string) (*pattern, error) {
	if err := checkText(s); err != nil {
		return nil, err
	}
	p := &pattern{key: k, text: s}
	if len(s) >= 2 && s[0] == '/' && s[len(s)-1] == '/' {
		return p, p.compileRegex(s)
	}
	if s[0] == '/' {
		return nil, fmt.Errorf("bad regex %q: missing the closing /", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Errorf("pattern %q contains a space or control character", s)
	}
	if k == keyClient {
		return p, p.parseClient(s)
	}
	if err := p.parseName(s); err != nil {
		return nil, err
	}
	return p, nil
}

// checkText checks what every pattern must be: not empty, bounded, UTF-8.
func checkText(s string) error {
	if s == "" {
		return errors.New("empty pattern")
	}
	if len(s) > maxPattern {
		return fmt.Errorf("pattern is %d bytes, over %d", len(s), maxPattern)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("pattern %q is not valid UTF-8", s)
	}
	return nil
}

// compileRegex compiles "/expr/": RE2, case-insensitive, without control
// characters.
func (p *pattern) compileRegex(s string) error {
	expr := s[1 : len(s)-1]
	if expr == "" {
		return errors.New("bad regex //: empty")
	}
	if i := strings.IndexFunc(expr, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
		return fmt.Errorf("bad regex %q: control character %q", s, expr[i])
	}
	// Compiled once as written, so that errors quote the user's text.
	if _, err := regexp.Compile(expr); err != nil {
		return fmt.Errorf("bad regex %s: %v", s, err)
	}
	re, err := regexp.Compile("(?i)" + expr)
	if err != nil {
		return fmt.Errorf("bad regex %s: %v", s, err)
	}
	p.kind, p.re = kindRegex, re
	return nil
}

// parseClient accepts an IP address or a CIDR network. IPv4-mapped IPv6
// forms are turned into IPv4, as client addresses are.
func (p *pattern) parseClient(s string) error {
	if strings.Contains(s, "/") {
		pre, err := netip.ParsePrefix(s)
		if err != nil {
			return badClient(s)
		}
		if m := pre.Masked(); m != pre {
			return fmt.Errorf("network %s has host bits set (did you mean %s?)", s, m)
		}
		if a := pre.Addr(); a.Is4In6() && pre.Bits() >= 96 {
			pre = netip.PrefixFrom(a.Unmap(), pre.Bits()-96)
		}
		p.kind, p.prefix = kindPrefix, pre
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return badClient(s)
	}
	if a.Zone() != "" {
		return fmt.Errorf("address %s has a zone", s)
	}
	a = a.Unmap()
	p.kind, p.prefix = kindIP, netip.PrefixFrom(a, a.BitLen())
	return nil
}

func badClient(s string) error {
	return fmt.Errorf("want an address, a CIDR or /regex/, got %q", s)
}

// parseName accepts the sender and recipient forms <>, .domain, @domain,
// domain and user@domain, and the HELO forms .domain and domain.
func (p *pattern) parseName(s string) error {
	if s == "<>" {
		if p.key != keySender {
			return errors.New("<> (the null sender) is only for sender rules")
		}
		p.kind = kindNull
		return nil
	}
	at := strings.LastIndexByte(s, '@')
	if p.key == keyHelo && at >= 0 {
		return fmt.Errorf("want a name or /regex/, got %q", s)
	}
	var err error
	switch {
	case s[0] == '.':
		err = checkDomain(s[1:], false)
		p.kind, p.value = kindSubdomain, strings.ToLower(s)
	case s[0] == '@':
		err = checkDomain(s[1:], true)
		p.kind, p.value = kindDomain, strings.ToLower(s[1:])
	case at > 0:
		if err = checkLocal(s[:at]); err == nil {
			err = checkDomain(s[at+1:], true)
		}
		p.kind, p.value = kindAddress, strings.ToLower(s)
	default:
		err = checkDomain(s, true)
		p.kind, p.value = kindDomain, strings.ToLower(s)
	}
	if err != nil {
		return fmt.Errorf("pattern %q: %w", s, err)
	}
	return nil
}

// checkDomain accepts dot-separated labels of letters, digits, '-', '_'
// and UTF-8 (internationalized names), or, when literal is true, an
// address literal in brackets ("[192.0.2.1]").
func checkDomain(d string, literal bool) error {
	if d == "" {
		return errors.New("empty domain")
	}
	if d[0] == '[' {
		inner, ok := strings.CutSuffix(d[1:], "]")
		if !literal {
			return fmt.Errorf("domain %q: an address literal has no subdomains", d)
		}
		if !ok || inner == "" || strings.ContainsAny(inner, "[]\\ ") {
			return fmt.Errorf("domain %q: malformed address literal", d)
		}
		return nil
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" {
			return fmt.Errorf("domain %q: empty label (leading, trailing or double dot)", d)
		}
		for _, r := range label {
			if !isLabelRune(r) {
				return fmt.Errorf("domain %q: character %q not allowed", d, r)
			}
		}
	}
	return nil
}

func isLabelRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '-' || r == '_' || r >= 0x80
}

// checkLocal accepts a non-empty local part without white space or angle
// brackets.
func checkLocal(l string) error {
	if l == "" {
		return errors.New("empty local part before @")
	}
	if i := strings.IndexAny(l, " \t<>"); i >= 0 {
		return fmt.Errorf("local part %q: character %q not allowed", l, l[i])
	}
	return nil
}

// matchConn reports whether a client pattern matches the connection.
func (p *pattern) matchConn(c *envelope.Conn) bool {
	if c == nil {
		return false
	}
	if p.kind == kindRegex {
		return p.re.MatchString(c.ClientName)
	}
	a := c.ClientAddr.Addr()
	if !a.IsValid() {
		return false
	}
	return p.prefix.Contains(a.Unmap().WithZone(""))
}

// matchHelo reports whether a HELO pattern matches the HELO name.
func (p *pattern) matchHelo(name string) bool {
	switch p.kind {
	case kindRegex:
		return p.re.MatchString(name)
	case kindDomain:
		return strings.ToLower(name) == p.value
	case kindSubdomain:
		return isSubdomain(name, p.value)
	}
	return false
}

// matchAddr reports whether a sender or recipient pattern matches addr
// (without angle brackets; "" is the null sender).
func (p *pattern) matchAddr(addr string) bool {
	switch p.kind {
	case kindRegex:
		return p.re.MatchString(addr)
	case kindNull:
		return addr == ""
	case kindAddress:
		return strings.ToLower(addr) == p.value
	case kindDomain:
		return strings.Contains(addr, "@") && strings.ToLower(envelope.Domain(addr)) == p.value
	case kindSubdomain:
		return strings.Contains(addr, "@") && isSubdomain(envelope.Domain(addr), p.value)
	}
	return false
}

// isSubdomain reports whether name ends with suffix (".example.com") and
// has at least one more label before it.
func isSubdomain(name, suffix string) bool {
	name = strings.ToLower(name)
	return len(name) > len(suffix) && strings.HasSuffix(name, suffix)
}
