package main

import (
	"log/slog"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/dmarc"
)

// TestDMARCOptions: the authserv-id follows dkim's, then hostname; the
// fields of a filter that is not configured are ignored.
func TestDMARCOptions(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		want       dmarc.Options
	}{
		{"alone", "hostname = \"mx.test\"\n[filters.dmarc]\n", dmarc.Options{AuthservID: "mx.test", DNSError: "accept",
			SkipNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")},
			Timeout:      10 * time.Second, IgnoreAuthResults: true, IgnoreReceivedSPF: true}},
		{"after dkim and spf", "hostname = \"mx.test\"\n[filters.dkim]\nauthserv_id = \"auth.test\"\n[filters.spf]\n" +
			"[filters.dmarc]\nenforce = true\non_dns_error = \"tempfail\"\nskip_networks = []\ntimeout = \"3s\"\n",
			dmarc.Options{AuthservID: "auth.test", Enforce: true, DNSError: "tempfail", SkipNetworks: []netip.Prefix{},
				Timeout: 3 * time.Second}},
		{"dkim signing only", "hostname = \"mx.test\"\n[filters.dkim]\nverify = false\n[filters.spf]\nreceived_spf = false\n" +
			"[filters.dmarc]\nauthserv_id = \"other.test\"\nskip_networks = []\n",
			dmarc.Options{AuthservID: "other.test", DNSError: "accept", SkipNetworks: []netip.Prefix{},
				Timeout: 10 * time.Second, IgnoreAuthResults: true, IgnoreReceivedSPF: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadText(t, tt.text)
			if got := dmarcOptions(cfg, cfg.Filters.DMARC); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("options %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestDMARCPosition: dmarc comes right after dkim; a different
// authserv-id than dkim's is refused, naming file and key.
func TestDMARCPosition(t *testing.T) {
	cfg := loadText(t, "hostname = \"mx.test\"\n[filters.headers]\nadd = [\"X-A: b\"]\n[filters.dkim]\n[filters.dmarc]\n")
	fs, err := buildFilters(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, filter.NameOf(f))
	}
	if len(names) != 3 || names[1] != "dkim" || names[2] != "dmarc" {
		t.Errorf("filters %q, want dmarc right after dkim", names)
	}
	cfg = loadText(t, "hostname = \"mx.test\"\n[filters.dkim]\n[filters.dmarc]\nauthserv_id = \"other.test\"\n")
	_, err = buildFilters(cfg, slog.Default())
	want := cfg.File + `: filters.dmarc.authserv_id: "other.test" differs from the authserv-id of filters.dkim, "mx.test", whose results DMARC reads`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	cfg = loadText(t, "[filters.dmarc]\nauthserv_id = \"a b\"\n")
	_, err = buildFilters(cfg, slog.Default())
	want = cfg.File + `: filters.dmarc.authserv_id: "a b": want a host name or another token without spaces or ()<>@,;:\"/[]?=`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
}
