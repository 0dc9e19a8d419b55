package greylist

import (
	"errors"
	"fmt"
	"strings"
)

// pattern is one whitelist entry, in lower case.
type pattern struct {
	kind patternKind
	text string // the address, local part (with "@"), domain, or ".domain"
}

type patternKind uint8

const (
	patAddress   patternKind = iota // user@example.com
	patLocal                        // user@ (any domain)
	patDomain                       // example.com
	patSubdomain                    // .example.com
	patNull                         // <> (senders only)
)

// compilePatterns parses a whitelist, recording an *OptionError for each
// bad entry.
func compilePatterns(key string, list []string, senders bool, errs *[]error) []pattern {
	var out []pattern
	for i, s := range list {
		p, err := parsePattern(s, senders)
		if err != nil {
			*errs = append(*errs, &OptionError{fmt.Sprintf("%s[%d]", key, i), err})
			continue
		}
		out = append(out, p)
	}
	return out
}

// parsePattern parses one whitelist entry; see the package documentation.
func parsePattern(s string, senders bool) (pattern, error) {
	if s == "" {
		return pattern{}, errors.New("empty pattern")
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c == 0x7f || c == '<' && s != "<>" || c == '>' && s != "<>" {
			return pattern{}, fmt.Errorf("pattern %q holds a space, control character or angle bracket", s)
		}
	}
	lower := strings.ToLower(s)
	if s == "<>" {
		if !senders {
			return pattern{}, errors.New("<> (the null sender) is for whitelist_senders only")
		}
		return pattern{kind: patNull}, nil
	}
	local, domain, hasAt := strings.Cut(lower, "@")
	switch {
	case strings.Contains(domain, "@"):
		return pattern{}, fmt.Errorf("pattern %q has more than one @", s)
	case hasAt && local == "":
		return pattern{}, fmt.Errorf("pattern %q has an empty local part (for a domain write %q)", s, domain)
	case hasAt && domain == "":
		return pattern{kind: patLocal, text: local}, nil
	case hasAt:
		if err := checkDomain(s, domain); err != nil {
			return pattern{}, err
		}
		return pattern{kind: patAddress, text: lower}, nil
	case strings.HasPrefix(lower, "."):
		if err := checkDomain(s, lower[1:]); err != nil {
			return pattern{}, err
		}
		return pattern{kind: patSubdomain, text: lower}, nil
	}
	if err := checkDomain(s, lower); err != nil {
		return pattern{}, err
	}
	return pattern{kind: patDomain, text: lower}, nil
}

func checkDomain(s, d string) error {
	if d == "" || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return fmt.Errorf("pattern %q has a malformed domain", s)
	}
	return nil
}

// match reports whether the address addr (lower case, "" for the null
// sender) matches p.
func (p pattern) match(addr string) bool {
	if p.kind == patNull {
		return addr == ""
	}
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return false // no domain: only <> or a whole address could match
	}
	local, domain := addr[:i], addr[i+1:]
	switch p.kind {
	case patAddress:
		return addr == p.text
	case patLocal:
		return local == p.text
	case patDomain:
		return domain == p.text
	case patSubdomain:
		return strings.HasSuffix(domain, p.text)
	}
	return false
}

func matchAny(ps []pattern, addr string) bool {
	for _, p := range ps {
		if p.match(addr) {
			return true
		}
	}
	return false
}

// normalizeSender is the sender as a triplet holds it: lower case, a BATV
// tag ("prvs=tag=user@…") removed, each run of digits in the local part
// replaced by "#", so that per-message return paths make one triplet.
func normalizeSender(addr string) string {
	addr = strings.ToLower(addr)
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return addr
	}
	local, domain := addr[:i], addr[i:]
	if rest, ok := strings.CutPrefix(local, "prvs="); ok {
		if _, user, ok := strings.Cut(rest, "="); ok && user != "" {
			local = user
		}
	}
	var b strings.Builder
	b.Grow(len(addr))
	inDigits := false
	for j := 0; j < len(local); j++ {
		c := local[j]
		if c >= '0' && c <= '9' {
			if !inDigits {
				b.WriteByte('#')
			}
			inDigits = true
			continue
		}
		inDigits = false
		b.WriteByte(c)
	}
	b.WriteString(domain)
	return b.String()
}
