package config

import (
	"slices"
	"sort"
	"strings"
	"testing"
)

// TestFieldsCoverSchema checks that Changed knows every key Load reads,
// and nothing else: a key added to scalarDefaults must be added to fields.
func TestFieldsCoverSchema(t *testing.T) {
	var got []string
	for _, f := range fields() {
		if _, ok := scalarDefaults()[f.key]; ok {
			got = append(got, f.key)
		} else if !strings.HasPrefix(f.key, "filters.") { // a built-in filter's table
			t.Errorf("fields() has %q, which is no key of scalarDefaults", f.key)
		}
	}
	sort.Strings(got)
	if want := sortedKeys(scalarDefaults()); !slices.Equal(got, want) {
		t.Errorf("fields() keys\n%q\nwant scalarDefaults' keys\n%q", got, want)
	}
	if keys := Keys(); len(keys) != len(fields())+1 || keys[len(keys)-1] != "milters" {
		t.Errorf("Keys() = %q, want fields' keys and milters", keys)
	}
	seen := map[string]bool{}
	for _, f := range fields() {
		if seen[f.key] {
			t.Errorf("fields() lists %q twice", f.key)
		}
		seen[f.key] = true
	}
}

func TestChanged(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name     string
		old, cur string
		want     []string
	}{
		{"same file", fullConfig, fullConfig, nil},
		{"defaults against an empty list", "", "[smtp]\nrelay_domains = []\nxclient_hosts = []", nil},
		{"relay domains and limits", "", "[smtp]\nrelay_domains = [\"example.org\"]\nmax_recipients = 5\nbare_lf = \"normalize\"",
			[]string{"smtp.relay_domains", "smtp.max_recipients", "smtp.bare_lf"}},
		{"list order counts", "[smtp]\nrelay_domains = [\"a.example\", \"b.example\"]", "[smtp]\nrelay_domains = [\"b.example\", \"a.example\"]",
			[]string{"smtp.relay_domains"}},
		{"resolver keys", "", "[smtp]\nresolve_client_names = false\ndns_timeout = \"1s\"",
			[]string{"smtp.resolve_client_names", "smtp.dns_timeout"}},
		{"verify keys", "", "[smtp]\nverify_recipients = true\nverify_cache_ttl = \"2h\"\nverify_negative_ttl = \"1m\"\nverify_timeout = \"5s\"\nverify_on_error = \"accept\"\n[downstream]\naddress = \"smtp://127.0.0.1:25\"",
			[]string{"smtp.verify_recipients", "smtp.verify_cache_ttl", "smtp.verify_negative_ttl", "smtp.verify_timeout", "smtp.verify_on_error", "downstream.address"}},
		{"restart keys", "", "data_dir = \"/x\"\n[smtp]\nlisten = [\"127.0.0.1:1\"]\n[downstream]\ntls = \"none\"",
			[]string{"data_dir", "smtp.listen", "queue.dir", "downstream.tls"}},
		{"headers filter value", "[filters.headers]\nadd = [\"X-A: 1\"]", "[filters.headers]\nadd = [\"X-A: 2\"]",
			[]string{"filters.headers"}},
		{"filters turned off", "", "[filters]", []string{"filters.headers"}},
		{"access filter added", "", "[filters.access]\n[filters.headers]\nadd = [\"X-Filtered-By: sluice\"]",
			[]string{"filters.access"}},
		{"milter changed in place", "[[milters]]\naddress = \"unix:/a\"\n[[milters]]\naddress = \"unix:/b\"",
			"[[milters]]\naddress = \"unix:/a\"\n[[milters]]\naddress = \"unix:/b\"\neom_timeout = \"1m\"", []string{"milters[1]"}},
		{"milter reuse turned on", "[[milters]]\naddress = \"unix:/a\"",
			"[[milters]]\naddress = \"unix:/a\"\nmax_idle_conns = 4", []string{"milters[0]"}},
		{"milter idle timeout", "[[milters]]\naddress = \"unix:/a\"\nidle_timeout = \"30s\"",
			"[[milters]]\naddress = \"unix:/a\"\nidle_timeout = \"1m\"", []string{"milters[0]"}},
		{"milter idle timeout as its default", "[[milters]]\naddress = \"unix:/a\"",
			"[[milters]]\naddress = \"unix:/a\"\nidle_timeout = \"30s\"\nmax_idle_conns = 0", nil},
		{"milter added", "[[milters]]\naddress = \"unix:/a\"",
			"[[milters]]\naddress = \"unix:/a\"\n[[milters]]\naddress = \"unix:/b\"", []string{"milters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			old, err := Load(LoadOptions{File: writeConfig(t, tt.old)})
			if err != nil {
				t.Fatal(err)
			}
			cur, err := Load(LoadOptions{File: writeConfig(t, tt.cur)})
			if err != nil {
				t.Fatal(err)
			}
			if got := Changed(old, cur); !slices.Equal(got, tt.want) {
				t.Errorf("Changed() = %q, want %q", got, tt.want)
			}
		})
	}
}
