package dkim

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"
)

// FuzzAuthservID: reading the authserv-id of any Authentication-Results
// value never panics, and the id of a value the filter writes is its own.
func FuzzAuthservID(f *testing.F) {
	f.Add("mx.example.org; dkim=pass")
	f.Fuzz(func(t *testing.T, v string) {
		id := authservID(v)
		if checkToken(v) == nil && id != v {
			t.Fatalf("authservID(%q) = %q", v, id)
		}
		if checkToken(id) == nil {
			got := authservID(formatResults(id, []result{{value: resultNone}}))
			if got != id {
				t.Fatalf("own id %q read back as %q", id, got)
			}
		}
	})
}

// FuzzFormatResults: whatever a signature's tags and the library's
// reason hold, the field written is one header value (no bare line
// break, folded lines start with a tab) that go-msgauth's parser reads
// back with the same authserv-id and result.
func FuzzFormatResults(f *testing.F) {
	f.Add("example.com", "sel", "AbCd/+==", "dkim: body hash did not verify")
	f.Fuzz(func(t *testing.T, d, s, b, reason string) {
		v := formatResults("mx.example.org", []result{{value: resultFail, domain: d, selector: s, b: b, reason: reason}})
		for i, line := range strings.Split(v, "\r\n") {
			if strings.ContainsAny(line, "\r\n") || i > 0 && !strings.HasPrefix(line, "\t") {
				t.Fatalf("line %d of %q", i, v)
			}
		}
		id, res, err := authres.Parse(strings.ReplaceAll(v, "\r\n", ""))
		if err != nil {
			t.Fatalf("authres.Parse(%q): %v", v, err)
		}
		if id != "mx.example.org" || len(res) != 1 {
			t.Fatalf("parsed %q %v from %q", id, res, v)
		}
		if r, ok := res[0].(*authres.DKIMResult); !ok || r.Value != authres.ResultFail {
			t.Fatalf("parsed %#v from %q", res[0], v)
		}
	})
}

// FuzzParseTags: any DKIM-Signature value parses without panic into tags
// whose values hold no white space.
func FuzzParseTags(f *testing.F) {
	f.Add(" v=1; a=rsa-sha256; d=example.com; s=sel;\r\n\tb=AbC d=")
	f.Fuzz(func(t *testing.T, v string) {
		for k, val := range parseTags(v) {
			if strings.ContainsAny(val, " \t\r\n") {
				t.Fatalf("tag %q value %q", k, val)
			}
		}
	})
}

// FuzzFromDomain: any From value gives a lower-case domain without '@'
// or '>', or none.
func FuzzFromDomain(f *testing.F) {
	f.Add(" Alice <alice@Example.COM>")
	f.Fuzz(func(t *testing.T, v string) {
		d := fromDomain(v)
		if strings.ContainsAny(d, "@") || d != strings.ToLower(d) {
			t.Fatalf("fromDomain(%q) = %q", v, d)
		}
	})
}
