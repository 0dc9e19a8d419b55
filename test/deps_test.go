package test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

// rule is one row of DESIGN.md's package table: which project packages pkg
// may import. Paths are relative to the module; "filter/*" stands for every
// filter/<name>; "*" in allow means anything. A package below a listed one
// (queue/internal/fs) belongs to it and shares its row.
type rule struct {
	pkg   string
	allow []string
}

// designRules is DESIGN.md's table. Keep the two in step.
func designRules() []rule {
	return []rule{
		{"cmd/sluice", []string{"*"}},
		{"config", nil},
		{"envelope", nil},
		{"milter", nil},
		{"filter", []string{"envelope"}},
		{"filter/*", []string{"filter", "envelope"}},
		{"milterclient", []string{"milter", "filter", "envelope"}},
		{"miltersrv", []string{"milter", "filter", "envelope"}},
		{"smtpd", []string{"filter", "envelope", "xclient", "tls"}},
		{"xclient", []string{"envelope"}},
		{"tls", nil},
		{"queue", []string{"envelope"}},
		{"smtpclient", []string{"envelope", "xclient", "tls"}},
		{"maildir", []string{"envelope"}},
	}
}

// forbid says that no package matching one of pkgs may depend on dep, even
// indirectly. dep is an import path, or module-relative when it does not
// start with a domain; it covers the packages below it too.
type forbid struct {
	pkgs []string
	dep  string
	why  string
}

func designForbids() []forbid {
	const smtp = "github.com/emersion/go-smtp"
	return []forbid{
		{[]string{"filter", "filter/*", "envelope"}, smtp, "go-smtp types stay inside smtpd and smtpclient"},
		{[]string{"milter"}, "filter", "the codec and the filter model meet only in miltersrv and milterclient"},
		{[]string{"filter", "filter/*"}, "milter", "the codec and the filter model meet only in miltersrv and milterclient"},
		{[]string{"milter", "filter", "filter/*", "envelope", "milterclient", "miltersrv", "smtpd", "xclient", "tls", "queue", "smtpclient", "maildir", "config"},
			"github.com/prometheus/client_golang", "library packages report through Observer hooks; only cmd/sluice knows Prometheus"},
	}
}

// pkgInfo is what `go list` says of one package, with module-relative
// paths for project packages and full paths for the rest.
type pkgInfo struct {
	path    string
	imports []string
	deps    []string
}

// checker applies the rules to the module's packages.
type checker struct {
	rules   []rule
	forbids []forbid
}

// owner returns the table entry governing pkg (the package itself, its
// filter/<name>, or its nearest listed ancestor) and the row; ok is false
// for a package outside the table.
func (c checker) owner(pkg string) (root string, r rule, ok bool) {
	for p := pkg; p != "." && p != ""; p = filepath.Dir(p) {
		for _, r := range c.rules {
			if matchPattern(r.pkg, p) {
				return p, r, true
			}
		}
	}
	return "", rule{}, false
}

// matchPattern matches a table name ("filter" or "filter/*") against a
// package path: "*" stands for one path element.
func matchPattern(pattern, pkg string) bool {
	if base, ok := strings.CutSuffix(pattern, "/*"); ok {
		rest, under := strings.CutPrefix(pkg, base+"/")
		return under && rest != "" && !strings.Contains(rest, "/")
	}
	return pattern == pkg
}

// check returns every violation, sorted.
func (c checker) check(pkgs []pkgInfo) []string {
	project := map[string]bool{}
	for _, p := range pkgs {
		project[p.path] = true
	}
	var out []string
	for _, p := range pkgs {
		for _, imp := range p.imports {
			if project[imp] {
				if msg := c.checkImport(p.path, imp); msg != "" {
					out = append(out, msg)
				}
			}
		}
		out = append(out, c.checkForbids(p)...)
	}
	sort.Strings(out)
	return out
}

// checkImport judges one import of a project package by another.
func (c checker) checkImport(pkg, imp string) string {
	root, r, listed := c.owner(pkg)
	if !listed {
		return "" // test helpers, benchmarks: free, but see below
	}
	impRoot, _, impListed := c.owner(imp)
	switch {
	case len(r.allow) == 1 && r.allow[0] == "*":
		return ""
	case !impListed:
		return fmt.Sprintf("%s imports %s, which is not a library package in DESIGN.md's table", pkg, imp)
	case impRoot == root:
		return ""
	}
	for _, a := range r.allow {
		if matchPattern(a, impRoot) {
			return ""
		}
	}
	return fmt.Sprintf("%s imports %s; DESIGN.md allows %s only %s", pkg, imp, r.pkg, describeAllow(r.allow))
}

func describeAllow(allow []string) string {
	if len(allow) == 0 {
		return "nothing of ours"
	}
	return strings.Join(allow, ", ")
}

// checkForbids checks p's transitive dependencies.
func (c checker) checkForbids(p pkgInfo) []string {
	root, _, listed := c.owner(p.path)
	if !listed {
		return nil
	}
	var out []string
	for _, f := range c.forbids {
		if !matchAny(f.pkgs, root) {
			continue
		}
		for _, d := range p.deps {
			if d == f.dep || strings.HasPrefix(d, f.dep+"/") {
				out = append(out, fmt.Sprintf("%s depends on %s (%s)", p.path, d, f.why))
				break
			}
		}
	}
	return out
}

func matchAny(patterns []string, pkg string) bool {
	for _, p := range patterns {
		if matchPattern(p, pkg) {
			return true
		}
	}
	return false
}

// listPackages runs `go list` on the module and returns its packages with
// module-relative paths.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	modOut, err := exec.Command(goTool, "list", "-m").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	module := strings.TrimSpace(string(modOut))
	cmd := exec.Command(goTool, "list", "-e", "-f",
		`{{.ImportPath}}{{"\t"}}{{join .Imports " "}}{{"\t"}}{{join .Deps " "}}`, "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	return parseList(module, string(out))
}

// parseList parses the tab-separated `go list` lines.
func parseList(module, out string) []pkgInfo {
	rel := func(p string) string {
		if p == module {
			return "."
		}
		if r, ok := strings.CutPrefix(p, module+"/"); ok {
			return r
		}
		return p
	}
	var pkgs []pkgInfo
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		p := pkgInfo{path: rel(f[0])}
		for _, i := range strings.Fields(f[1]) {
			p.imports = append(p.imports, rel(i))
		}
		for _, d := range strings.Fields(f[2]) {
			p.deps = append(p.deps, rel(d))
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestDependencyDirection enforces DESIGN.md's package table on the tree.
func TestDependencyDirection(t *testing.T) {
	pkgs := listPackages(t)
	have := map[string]bool{}
	for _, p := range pkgs {
		have[p.path] = true
	}
	// Guard against a vacuous pass (go list found nothing, or the wrong tree).
	for _, p := range []string{"cmd/sluice", "config", "envelope", "filter", "milter", "miltersrv"} {
		if !have[p] {
			t.Errorf("go list did not report package %s", p)
		}
	}
	c := checker{rules: designRules(), forbids: designForbids()}
	for _, v := range c.check(pkgs) {
		t.Error(v)
	}
}
