package spf

import (
	"fmt"
	"strings"

	"blitiri.com.ar/go/spf"

	"github.com/sluice-mta/sluice/filter"
)

// action is what the filter does with one result.
type action uint8

const (
	actAccept   action = iota + 1 // let through (with the header)
	actTag                        // the same, for fail and softfail
	actReject                     // 5xx
	actTempFail                   // 4xx
)

var actionNames = map[action]string{actAccept: "accept", actTag: "tag", actReject: "reject", actTempFail: "tempfail"}

func (a action) String() string { return actionNames[a] }

// parseAction reads a configured action: empty gives def, else it must be
// one of allowed (case-insensitive).
func parseAction(s string, def action, allowed ...action) (action, error) {
	if s == "" {
		return def, nil
	}
	names := make([]string, 0, len(allowed))
	for _, a := range allowed {
		if strings.EqualFold(s, a.String()) {
			return a, nil
		}
		names = append(names, a.String())
	}
	return 0, fmt.Errorf("unknown action %q (want %s)", s, strings.Join(names, " or "))
}

// Reply codes. RFC 7372 §3.2 registers X.7.23 "SPF validation failed"
// and X.7.24 "SPF validation error"; RFC 7208 §8.4 and §8.6-8.7 name
// 550 and 451.
const (
	codeFailed     = 550 // RFC 5321 §4.2.3 mailbox unavailable / policy
	codeTemporary  = 451 // RFC 5321 §4.2.3 local error in processing
	enhFailed      = "5.7.23"
	enhTempFailed  = "4.7.23"
	enhError       = "5.7.24"
	enhTempError   = "4.7.24"
	replyTryLater  = ", try again later"
	replyDesignate = " does not designate %s as a permitted sender"
)

// actionFor returns the configured action for a result; pass, neutral
// and none always go on.
func (f *Filter) actionFor(r spf.Result) action {
	switch r {
	case spf.Fail:
		return f.fail
	case spf.SoftFail:
		return f.softfail
	case spf.TempError:
		return f.temperror
	case spf.PermError:
		return f.permerror
	}
	return actAccept
}

// verdict is the MAIL verdict for an outcome the filter refuses.
func verdict(o *outcome, a action) filter.Verdict {
	switch {
	case a == actReject && o.result == spf.Fail:
		return filter.CustomReply(codeFailed, enhFailed,
			"SPF validation failed: "+o.domain+fmt.Sprintf(replyDesignate, o.ip))
	case a == actTempFail && o.result == spf.SoftFail:
		return filter.CustomReply(codeTemporary, enhTempFailed,
			"SPF validation soft-failed: "+o.domain+fmt.Sprintf(replyDesignate, o.ip)+replyTryLater)
	case a == actTempFail && o.result == spf.TempError:
		return filter.CustomReply(codeTemporary, enhTempError,
			"SPF validation error: temporary DNS failure for "+o.domain+replyTryLater)
	case a == actReject && o.result == spf.PermError:
		return filter.CustomReply(codeFailed, enhError,
			"SPF validation error: the SPF record of "+o.domain+" is not valid")
	}
	return filter.Continue
}
