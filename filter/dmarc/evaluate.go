package dmarc

import (
	"context"
	"errors"

	"github.com/emersion/go-msgauth/dmarc"
)

// Results (RFC 7489 §11.2, RFC 8601 §2.7).
const (
	resultPass      = "pass"
	resultFail      = "fail"
	resultNone      = "none"
	resultTempError = "temperror"
	resultPermError = "permerror"
)

// Dispositions: what the filter did with the message.
const (
	disNone       = "none"
	disQuarantine = "quarantine"
	disReject     = "reject"
)

// evidence is what the earlier checks found, domains normalized.
type evidence struct {
	dkimPass  []string // header.d of dkim=pass results
	dkimTemp  []string // header.d of dkim=temperror results
	spfResult string   // "" when unknown
	spfDomain string   // the SPF-checked domain, "" when unknown
}

// outcome is one evaluation.
type outcome struct {
	result string
	from   string       // the From domain, "" when there is none
	policy dmarc.Policy // the policy for the From domain, "" without record
	dis    string       // disposition
	reason string       // for temperror and permerror
	err    error        // the cause, for logs
}

// evaluate runs DMARC for the From fields' values and the evidence.
func (f *Filter) evaluate(ctx context.Context, from []string, ev evidence) outcome {
	domain, err := fromDomain(from)
	if err != nil {
		return outcome{result: resultPermError, reason: err.Error(), dis: disNone, err: err}
	}
	o := outcome{from: domain, dis: disNone}
	p, err := f.discover(ctx, domain)
	var te *tempError
	switch {
	case errors.As(err, &te):
		o.result, o.reason, o.err = resultTempError, "DMARC record lookup failed", err
		return o
	case err != nil:
		o.result, o.reason, o.err = resultPermError, "malformed DMARC record", err
		return o
	case p.rec == nil:
		o.result = resultNone
		return o
	}
	o.policy = p.rec.Policy
	if p.atOrg && p.rec.SubdomainPolicy != "" {
		o.policy = p.rec.SubdomainPolicy
	}
	o.result = f.align(domain, p.rec, ev)
	if o.result == resultFail {
		o.dis = f.disposition(o.policy, p.rec.Percent)
	}
	return o
}

// align gives pass when a DKIM or SPF domain that passed is aligned with
// from, temperror when none is but one that failed temporarily is, else
// fail.
func (f *Filter) align(from string, rec *dmarc.Record, ev evidence) string {
	dkimStrict := rec.DKIMAlignment == dmarc.AlignmentStrict
	spfStrict := rec.SPFAlignment == dmarc.AlignmentStrict
	for _, d := range ev.dkimPass {
		if aligned(from, d, dkimStrict) {
			return resultPass
		}
	}
	spfAligned := ev.spfDomain != "" && aligned(from, ev.spfDomain, spfStrict)
	if spfAligned && ev.spfResult == resultPass {
		return resultPass
	}
	if spfAligned && ev.spfResult == resultTempError {
		return resultTempError
	}
	for _, d := range ev.dkimTemp {
		if aligned(from, d, dkimStrict) {
			return resultTempError
		}
	}
	return resultFail
}

// disposition is what a fail under pol does: pct sampling first (a
// message outside the sample gets the next milder policy, RFC 7489
// §6.6.4), then nothing unless the filter enforces.
func (f *Filter) disposition(pol dmarc.Policy, pct *int) string {
	if pct != nil && *pct < 100 && !f.sampleBelow(*pct) {
		switch pol {
		case dmarc.PolicyReject:
			pol = dmarc.PolicyQuarantine
		default:
			pol = dmarc.PolicyNone
		}
	}
	switch {
	case !f.enforce:
		return disNone
	case pol == dmarc.PolicyReject:
		return disReject
	case pol == dmarc.PolicyQuarantine:
		return disQuarantine
	}
	return disNone
}
