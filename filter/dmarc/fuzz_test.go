package dmarc

import (
	"strings"
	"testing"
)

// FuzzParse feeds header values a client controls to the parsers of
// Authentication-Results, Received-SPF and From: they must not panic,
// and what they return must be what the evaluation can use.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"mx.test; dkim=pass header.d=example.com header.s=s1",
		`mx.test 1; dkim/1=fail reason="a; b (c)" (comment (nested)) header.d=x.example; spf=pass smtp.mailfrom=a@b`,
		`pass (mx.test: domain of a@b.example designates 192.0.2.1) client-ip=192.0.2.1; envelope-from="a@b.example"; identity=mailfrom`,
		"Alice <alice@example.com>",
		"=?utf-8?q?J=C3=B6rg?= <j@b\xc3\xbccher.example>",
		"(unterminated \"quote",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if id, results, ok := parseAuthResults(v); ok {
			if id == "" {
				t.Errorf("authserv-id %q", id)
			}
			for _, r := range results {
				if r.method == "" || r.result == "" {
					t.Errorf("empty method or result in %+v", r)
				}
			}
		}
		if info, ok := parseReceivedSPF(v); ok && info.result == "" {
			t.Errorf("empty SPF result from %q", v)
		}
		if d, err := fromDomain([]string{v}); err == nil {
			if n, ok := normalizeDomain(d); !ok || n != d {
				t.Errorf("From domain %q is not normalized", d)
			}
		}
		formatted := formatResult("mx.test", outcome{result: resultPermError, reason: v})
		if _, _, ok := parseAuthResults(formatted); !ok || strings.ContainsAny(strings.ReplaceAll(formatted, "\r\n\t", ""), "\r\n\x00") {
			t.Errorf("formatted field %q", formatted)
		}
	})
}
