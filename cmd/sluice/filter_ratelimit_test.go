package main

import (
	"log/slog"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/sluice-mta/sluice/config"
	"github.com/sluice-mta/sluice/filter"
	"github.com/sluice-mta/sluice/filter/ratelimit"
)

// TestBuildFiltersRateLimit: [filters.ratelimit] runs first, before the
// access rules, and its keys reach the filter's options.
func TestBuildFiltersRateLimit(t *testing.T) {
	cfg := loadText(t, `[filters.access]
[[filters.access.rules]]
client = "192.0.2.1"
action = "reject"
[filters.headers]
add = ["X-A: b"]
[filters.ratelimit]
messages = 2
`)
	fs, err := buildFilters(cfg, slog.Default())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, filter.NameOf(f))
	}
	if want := []string{"ratelimit", "access", "headers"}; !reflect.DeepEqual(names, want) {
		t.Errorf("filters %q, want %q", names, want)
	}
}

func TestRateLimitOptions(t *testing.T) {
	r := &config.RateLimitFilter{Connections: 1, Messages: 2, Recipients: 3, Window: time.Hour, IPv6Prefix: 56,
		MaxClients: 9, ExemptNetworks: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, ExemptAuthenticated: true}
	want := ratelimit.Options{Connections: 1, Messages: 2, Recipients: 3, Window: time.Hour, IPv6Prefix: 56,
		MaxClients: 9, ExemptNetworks: r.ExemptNetworks, ExemptAuthenticated: true}
	if got := rateLimitOptions(r); !reflect.DeepEqual(got, want) {
		t.Errorf("rateLimitOptions = %+v\nwant %+v", got, want)
	}
	// No networks exempts nobody: never nil, which would be loopback.
	if got := rateLimitOptions(&config.RateLimitFilter{}).ExemptNetworks; got == nil || len(got) != 0 {
		t.Errorf("ExemptNetworks = %#v, want empty and non-nil", got)
	}
}

// TestBuildFiltersRateLimitError: what the filter alone refuses is named
// by file and table.
func TestBuildFiltersRateLimitError(t *testing.T) {
	cfg := loadText(t, "[filters.ratelimit]\nrecipients = 3\nwindow = \"2ns\"\n")
	_, err := buildFilters(cfg, slog.Default())
	want := cfg.File + ": filters.ratelimit: filter/ratelimit: Window 2ns is too short for 3 events"
	if err == nil || err.Error() != want {
		t.Errorf("buildFilters: %v\nwant %s", err, want)
	}
}
