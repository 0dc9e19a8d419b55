package main

import (
	"log/slog"
	"testing"

	"github.com/sluice-mta/sluice/filter/dnsbl"
)

// TestDNSBLErrors: what the dnsbl filter refuses is named by file and
// key, as config names what it refuses itself.
func TestDNSBLErrors(t *testing.T) {
	cfg := loadText(t, `[filters.dnsbl]
zones = ["zen.spamhaus.org", "bl.example=127.0.0.[2..300]", "nodot"]
reply = "451 blocked by %s"
`)
	_, err := buildFilters(cfg, slog.Default())
	if err == nil {
		t.Fatal("buildFilters accepted bad zones")
	}
	want := cfg.File + `: filters.dnsbl.zones[1]: "bl.example=127.0.0.[2..300]": return codes "127.0.0.[2..300]": pattern "127.0.0.[2..300]": octet "300": want a number from 0 to 255` + "\n" +
		cfg.File + `: filters.dnsbl.zones[2]: "nodot": zone name "nodot" has one label, want a domain such as zen.spamhaus.org` + "\n" +
		cfg.File + `: filters.dnsbl.reply: "451 blocked by %s": code 451: want a 5xx code`
	if err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

// TestDNSBLBuilt: the keys reach the filter, in the chain right after
// access.
func TestDNSBLBuilt(t *testing.T) {
	cfg := loadText(t, `[filters.access]
[filters.dnsbl]
zones = ["zen.spamhaus.org"]
action = "tag"
reject_at = "rcpt"
resolver = "127.0.0.1:5353"
skip_networks = []
[filters.headers]
`)
	fs, err := buildFilters(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 {
		t.Fatalf("%d filters, want 3", len(fs))
	}
	if _, ok := fs[1].(*dnsbl.Filter); !ok {
		t.Fatalf("filter 1 is %T, want *dnsbl.Filter", fs[1])
	}
	o := dnsblOptions(cfg.Filters.DNSBL)
	if o.Server != "127.0.0.1:5353" || o.Action != "tag" || o.RejectAt != "rcpt" || o.SkipNetworks == nil || len(o.SkipNetworks) != 0 {
		t.Errorf("options %+v", o)
	}
}
