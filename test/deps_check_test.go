package test

import (
	"reflect"
	"testing"
)

// TestCheckerFindsViolations feeds the checker made-up trees.
func TestCheckerFindsViolations(t *testing.T) {
	const smtp = "github.com/emersion/go-smtp"
	tests := []struct {
		name string
		pkgs []pkgInfo
		want []string
	}{
		{
			name: "clean tree",
			pkgs: []pkgInfo{
				{path: "envelope"},
				{path: "milter", imports: []string{"bufio"}},
				{path: "filter", imports: []string{"envelope"}, deps: []string{"envelope"}},
				{path: "filter/headers", imports: []string{"filter", "envelope"}},
				{path: "miltersrv", imports: []string{"milter", "filter", "envelope"}},
				{path: "smtpd", imports: []string{"filter", "tls", smtp}},
				{path: "tls"},
				{path: "queue", imports: []string{"envelope", "queue/internal/fs"}},
				{path: "queue/internal/fs", imports: []string{"envelope"}},
				{path: "cmd/sluice", imports: []string{"smtpd", "filter/headers", "test/peer", "config"}},
				{path: "config"},
				{path: "test/peer", imports: []string{"smtpd", "milter", "filter/headers"}},
				{path: "bench", imports: []string{"miltersrv"}},
			},
		},
		{
			name: "milter imports filter",
			pkgs: []pkgInfo{{path: "milter", imports: []string{"filter"}, deps: []string{"envelope", "filter"}}, {path: "filter"}},
			want: []string{
				"milter depends on filter (the codec and the filter model meet only in miltersrv and milterclient)",
				"milter imports filter; DESIGN.md allows milter only nothing of ours",
			},
		},
		{
			name: "filter imports milter",
			pkgs: []pkgInfo{{path: "filter", imports: []string{"milter"}, deps: []string{"milter"}}, {path: "milter"}},
			want: []string{
				"filter depends on milter (the codec and the filter model meet only in miltersrv and milterclient)",
				"filter imports milter; DESIGN.md allows filter only envelope",
			},
		},
		{
			name: "built-in filter reaches the codec indirectly",
			pkgs: []pkgInfo{{path: "filter/dkim", imports: []string{"filter"}, deps: []string{"filter", "milter/internal/wire"}}, {path: "filter"}},
			want: []string{"filter/dkim depends on milter/internal/wire (the codec and the filter model meet only in miltersrv and milterclient)"},
		},
		{
			name: "go-smtp in envelope's deps",
			pkgs: []pkgInfo{{path: "envelope", imports: []string{"net/mail"}, deps: []string{"net/mail", smtp + "/internal"}}},
			want: []string{"envelope depends on " + smtp + "/internal (go-smtp types stay inside smtpd and smtpclient)"},
		},
		{
			name: "smtpd imports a built-in filter and queue",
			pkgs: []pkgInfo{{path: "smtpd", imports: []string{"filter", "filter/spf", "queue"}}, {path: "filter"}, {path: "filter/spf"}, {path: "queue"}},
			want: []string{
				"smtpd imports filter/spf; DESIGN.md allows smtpd only filter, envelope, xclient, tls",
				"smtpd imports queue; DESIGN.md allows smtpd only filter, envelope, xclient, tls",
			},
		},
		{
			name: "library imports a test helper or an unlisted package",
			pkgs: []pkgInfo{{path: "queue", imports: []string{"test/peer"}}, {path: "test/peer"}, {path: "config", imports: []string{"util"}}, {path: "util"}},
			want: []string{
				"config imports util, which is not a library package in DESIGN.md's table",
				"queue imports test/peer, which is not a library package in DESIGN.md's table",
			},
		},
		{
			name: "subpackage shares its parent's row",
			pkgs: []pkgInfo{{path: "queue/internal/fs", imports: []string{"smtpd"}}, {path: "smtpd"}},
			want: []string{"queue/internal/fs imports smtpd; DESIGN.md allows queue only envelope"},
		},
	}
	c := checker{rules: designRules(), forbids: designForbids()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.check(tt.pkgs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("check() =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestParseList(t *testing.T) {
	out := "m/filter\tm/envelope fmt\tfmt m/envelope\n" +
		"m/test\t\t\n"
	got := parseList("m", out)
	want := []pkgInfo{
		{path: "filter", imports: []string{"envelope", "fmt"}, deps: []string{"fmt", "envelope"}},
		{path: "test"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseList() = %+v, want %+v", got, want)
	}
}
