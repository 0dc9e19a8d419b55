package dnsbl

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// errorCodes is where lists answer to say that the query failed (for
// instance Spamhaus, to a query through a public resolver), not that the
// client is listed.
var errorCodes = netip.MustParsePrefix("127.255.255.0/24")

// outcome is what the lookups of one client decided.
type outcome int

const (
	clean   outcome = iota // below the threshold, whatever failed lookups might have said
	listed                 // at or over the threshold, whatever failed lookups might have said
	unsure                 // failed lookups could have changed the verdict
	skipped                // the client was not looked up
)

// result is the evaluation of the answers for one client.
type result struct {
	outcome outcome
	client  netip.Addr
	score   int      // the sum of the weights of the listing zones
	zones   []string // names of the listing zones of positive weight, distinct, in configured order
	codes   []string // the answers that listed, distinct, in the order seen
	errs    []string // "zone: error" of each failed lookup
}

// evaluate adds up the weights of the zones whose answers list the
// client. A failed lookup of a zone counts as its weight and as nothing:
// when the two give different verdicts the outcome is unsure.
func (f *Filter) evaluate(client netip.Addr, answers map[string]answer) result {
	r := result{client: client}
	var lo, hi int // what the failed zones could add, at least and at most
	failed := map[string]bool{}
	for i := range f.zones {
		z := &f.zones[i]
		ans := answers[z.name]
		err := ans.err
		if err == nil && z.patterns == nil {
			err = refusedAnswer(ans.addrs)
		}
		if err != nil {
			if !failed[z.name] {
				failed[z.name] = true
				r.errs = append(r.errs, z.name+": "+err.Error())
			}
			lo, hi = lo+min(z.weight, 0), hi+max(z.weight, 0)
			continue
		}
		if matched := z.matches(ans.addrs); len(matched) > 0 {
			r.add(z, matched)
		}
	}
	switch {
	case r.score+lo >= f.threshold:
		r.outcome = listed
	case r.score+hi < f.threshold:
		r.outcome = clean
	default:
		r.outcome = unsure
	}
	return r
}

// refusedAnswer reports an answer in 127.255.255.0/24 as an error.
func refusedAnswer(addrs []netip.Addr) error {
	for _, a := range addrs {
		if errorCodes.Contains(a) {
			return fmt.Errorf("answer %s reports an error, not a listing", a)
		}
	}
	return nil
}

func (z *zone) matches(addrs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		if z.listedBy(a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func (r *result) add(z *zone, matched []netip.Addr) {
	r.score += z.weight
	if z.weight < 0 {
		return
	}
	if !slices.Contains(r.zones, z.name) {
		r.zones = append(r.zones, z.name)
	}
	for _, a := range matched {
		if s := a.String(); !slices.Contains(r.codes, s) {
			r.codes = append(r.codes, s)
		}
	}
}

// lookupError joins the failures for a log line.
func (r *result) lookupError() error {
	if len(r.errs) == 0 {
		return nil
	}
	return errors.New(strings.Join(r.errs, "; "))
}
