package dmarc

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
)

// policy is a DMARC record as discovered for a From domain.
type policy struct {
	rec   *dmarc.Record
	atOrg bool // the record is the organizational domain's
}

// tempError is a lookup that failed or timed out: temperror.
type tempError struct{ err error }

func (e *tempError) Error() string { return e.err.Error() }
func (e *tempError) Unwrap() error { return e.err }

// discover finds the record for domain, or for its organizational
// domain when it has none (RFC 7489 §6.6.3). A nil record and nil error
// mean there is none; errors are *tempError or a malformed record.
func (f *Filter) discover(ctx context.Context, domain string) (policy, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	rec, err := f.lookup(ctx, domain)
	if rec != nil || err != nil {
		return policy{rec: rec}, err
	}
	org := orgDomain(domain)
	if org == domain {
		return policy{}, nil
	}
	rec, err = f.lookup(ctx, org)
	return policy{rec: rec, atOrg: rec != nil}, err
}

// lookup fetches and parses _dmarc.<domain> with go-msgauth, within ctx.
// The lookup runs on its own goroutine, so a resolver that ignores its
// context delays nothing past the deadline.
func (f *Filter) lookup(ctx context.Context, domain string) (*dmarc.Record, error) {
	type answer struct {
		rec *dmarc.Record
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		var failed error // the resolver's error, when not "no such record"
		rec, err := dmarc.LookupWithOptions(domain, &dmarc.LookupOptions{
			LookupTXT: func(name string) ([]string, error) {
				txts, err := f.resolver.LookupTXT(ctx, name)
				if err == nil {
					return oneRecord(txts), nil
				}
				var de *net.DNSError
				if errors.As(err, &de) && de.IsNotFound {
					return nil, &net.DNSError{Err: "no such record", Name: name, IsNotFound: true}
				}
				failed = err
				return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
			},
		})
		switch {
		case failed != nil:
			err = &tempError{failed}
		case errors.Is(err, dmarc.ErrNoPolicy):
			rec, err = nil, nil
		}
		ch <- answer{rec, err}
	}()
	select {
	case a := <-ch:
		return a.rec, a.err
	case <-ctx.Done():
		return nil, &tempError{ctx.Err()}
	}
}

// oneRecord keeps the DMARC record of a TXT answer: none when there are
// several (RFC 7489 §6.6.3), and no other TXT strings.
func oneRecord(txts []string) []string {
	var out []string
	for _, t := range txts {
		if rest, ok := strings.CutPrefix(t, "v=DMARC1"); ok {
			rest = strings.TrimLeft(rest, " \t")
			if rest == "" || rest[0] == ';' {
				out = append(out, t)
			}
		}
	}
	if len(out) != 1 {
		return nil
	}
	return out
}

// sample reports whether a message falls in the pct percent a policy
// applies to (RFC 7489 §6.6.4).
func sample(pct int) bool { return rand.IntN(100) < pct }
