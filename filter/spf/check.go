package spf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"

	"blitiri.com.ar/go/spf"
	"golang.org/x/net/idna"
)

// maxDomain is the longest domain name in its text form (RFC 1035 §2.3.4
// allows 255 octets on the wire).
const maxDomain = 253

// errNoDomain is the cause of a "none" given without a lookup.
var errNoDomain = errors.New("not a multi-label domain name")

// outcome is one check and what it was about.
type outcome struct {
	result   spf.Result
	err      error      // the cause, for logs; may be set on pass
	identity string     // "mailfrom" or "helo"
	from     string     // the envelope sender as given, "" for <>
	sender   string     // the mailbox checked: from, or postmaster@HELO
	domain   string     // the domain checked (lower case, A-labels), or as given when malformed
	ip       netip.Addr // the client
	helo     string
}

// check runs check_host() for the MAIL FROM identity, or the HELO one
// when from is the null sender (RFC 7208 §2.4).
func (f *Filter) check(ctx context.Context, ip netip.Addr, helo, from string) *outcome {
	o := &outcome{identity: "mailfrom", from: from, sender: from, ip: ip, helo: helo}
	local, dom := "", ""
	if i := strings.LastIndexByte(from, '@'); i >= 0 {
		local, dom = from[:i], from[i+1:]
	}
	if from == "" {
		o.identity, local, dom = "helo", "postmaster", helo
		o.sender = "postmaster@" + helo
	}
	o.domain = dom
	d, ok := normalizeDomain(dom)
	if !ok {
		o.result, o.err = spf.None, errNoDomain
		return o
	}
	o.domain = d
	// An empty local-part is "postmaster" (RFC 7208 §4.3); the library
	// splits at the first "@", so a quoted one holding "@" is replaced too.
	if local == "" || strings.Contains(local, "@") {
		local = "postmaster"
	}
	o.result, o.err = f.run(ctx, ip, helo, local+"@"+d)
	return o
}

// run evaluates the policy within the filter's time limit. The
// evaluation runs on its own goroutine, so a resolver that ignores its
// context delays nothing past the deadline: the answer is then temperror
// and the goroutine ends when the resolver returns.
func (f *Filter) run(ctx context.Context, ip netip.Addr, helo, sender string) (spf.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	type answer struct {
		r   spf.Result
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		r, err := spf.CheckHostWithSender(net.IP(ip.AsSlice()), helo, sender,
			spf.WithContext(ctx), spf.WithResolver(lookups{f.resolver}))
		ch <- answer{r, err}
	}()
	select {
	case a := <-ch:
		// A lookup cut short by the deadline is a temporary failure,
		// whatever error the resolver made of it.
		if ctx.Err() != nil && (a.r == spf.PermError || a.r == spf.None) {
			return spf.TempError, ctx.Err()
		}
		return a.r, a.err
	case <-ctx.Done():
		return spf.TempError, ctx.Err()
	}
}

// normalizeDomain returns d in lower case, without a final dot, with
// A-labels, when it is a multi-label domain name whose labels are 1 to
// 63 letters, digits, hyphens or underscores and whose top label is not
// all digits (an address is no domain).
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
	if len(d) > maxDomain {
		return "", false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 || strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 || !ldh(l) {
			return "", false
		}
	}
	return strings.ToLower(d), true
}

func ldh(l string) bool {
	for i := 0; i < len(l); i++ {
		c := l[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !ok {
			return false
		}
	}
	return true
}

// lookups hands the library a Resolver whose errors are all
// *net.DNSError, the one type it tells temporary from permanent by: any
// other error is a temporary failure (RFC 7208 §2.6.6).
type lookups struct{ r Resolver }

func (l lookups) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := l.r.LookupTXT(ctx, name)
	return v, dnsError(err, name)
}

func (l lookups) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := l.r.LookupMX(ctx, name)
	return v, dnsError(err, name)
}

func (l lookups) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	v, err := l.r.LookupIPAddr(ctx, host)
	return v, dnsError(err, host)
}

func (l lookups) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := l.r.LookupAddr(ctx, addr)
	return v, dnsError(err, addr)
}

func dnsError(err error, name string) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
}
