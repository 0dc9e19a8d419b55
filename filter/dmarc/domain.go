package dmarc

import (
	"errors"
	"io"
	"mime"
	"net/mail"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// maxDomain is the longest domain name in its text form.
const maxDomain = 253

// fromDomain returns the domain of the one address of the one From field
// (RFC 7489 §6.6.1), normalized; or the reason there is none.
func fromDomain(values []string) (string, error) {
	switch len(values) {
	case 0:
		return "", errors.New("no From field")
	case 1:
	default:
		return "", errors.New("several From fields")
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		// The display name is of no interest: any charset will do.
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
	list, err := p.ParseList(unfold(values[0]))
	switch {
	case err != nil:
		return "", errors.New("From field not parsable")
	case len(list) != 1:
		return "", errors.New("From field without exactly one address")
	}
	i := strings.LastIndexByte(list[0].Address, '@')
	if i < 0 {
		return "", errors.New("From address without a domain")
	}
	d, ok := normalizeDomain(list[0].Address[i+1:])
	if !ok {
		return "", errors.New("From address domain is no domain name")
	}
	return d, nil
}

// unfold removes the CRLF of folded lines (RFC 5322 §2.2.3).
func unfold(v string) string {
	return strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(v)
}

// normalizeDomain returns d in lower case, without a final dot, with
// A-labels, when it is a domain name of at least two labels of letters,
// digits, hyphens and underscores whose top label is not all digits.
func normalizeDomain(d string) (string, bool) {
	d = strings.TrimSuffix(d, ".")
	if d == "" || len(d) > 4*maxDomain {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			a, err := idna.Lookup.ToASCII(d)
			if err != nil {
				return "", false
			}
			d = a
			break
		}
	}
	d = strings.ToLower(d)
	if len(d) > maxDomain {
		return "", false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
			return "", false
		}
	}
	return d, true
}

// orgDomain is the organizational domain of d (RFC 7489 §3.2): its public
// suffix and one label more, or d itself when d is a public suffix.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned reports whether an authenticated domain is aligned with the
// From domain (RFC 7489 §3.1): equal when strict, with the same
// organizational domain when relaxed. Both are normalized.
func aligned(from, auth string, strict bool) bool {
	if from == auth {
		return true
	}
	return !strict && orgDomain(from) == orgDomain(auth)
}
